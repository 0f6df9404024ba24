//! `hone users`: the accounts of a team server (`hone serve --team`). Run on the server's
//! workspace by its owner; a token is printed once, only its hash is kept.

use std::path::Path;

use hone_core::accounts::Role;

use crate::output;
use crate::output::say;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create an account and print its first token.
    Add {
        name: String,
        /// owner (accounts too), lead (projects, imports, reports, training) or annotator
        /// (labels what is assigned, sees only their own history).
        #[arg(long)]
        role: Role,
        #[arg(long)]
        json: bool,
    },
    /// The accounts, their roles and whether they are revoked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Another token for an account (its other tokens keep working).
    Token {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an account and every token it has, at once.
    Revoke {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn print_token(issued: &hone_core::accounts::IssuedToken) {
    say!(
        "{} ({}): {}",
        issued.account.name,
        issued.account.role.as_str(),
        issued.token
    );
    say!(
        "give this token to {} now: Hone keeps only its hash",
        issued.account.name
    );
}

pub async fn run(workspace: Option<&Path>, command: Command) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    match command {
        Command::Add { name, role, json } => {
            let issued = hone.add_user(&name, role).await?;
            if json {
                return output::json(&issued);
            }
            print_token(&issued);
        }
        Command::Token { name, json } => {
            let issued = hone.new_token(&name).await?;
            if json {
                return output::json(&issued);
            }
            print_token(&issued);
        }
        Command::List { json } => {
            let users = hone.list_users().await?;
            if json {
                return output::json(&users);
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.id.to_string(),
                        u.name.clone(),
                        u.role.clone(),
                        u.created_at.clone(),
                        u.revoked_at.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["id", "name", "role", "created", "revoked"], &rows);
        }
        Command::Revoke { name, json } => {
            let user = hone.revoke_user(&name).await?;
            if json {
                return output::json(&user);
            }
            say!("{} revoked: their tokens no longer sign in", user.name);
        }
    }
    Ok(())
}
