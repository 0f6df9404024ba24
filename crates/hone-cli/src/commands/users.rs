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
        /// The name already has judgments (labeled before team mode): make them this account's.
        #[arg(long)]
        claim: bool,
        #[arg(long)]
        json: bool,
    },
    /// Let annotator accounts see and label a project (leads and owners see every project).
    Join {
        #[arg(long)]
        project: String,
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take a project away from accounts; their judgments stay.
    Leave {
        #[arg(long)]
        project: String,
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The accounts that are members of a project.
    Members {
        #[arg(long)]
        project: String,
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
        Command::Add {
            name,
            role,
            claim,
            json,
        } => {
            let issued = hone.add_user(&name, role, claim).await?;
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
        Command::Join {
            project,
            names,
            json,
        } => {
            let project = super::project(&hone, &project).await?;
            let mut members = Vec::new();
            for name in &names {
                members = hone.add_member(project.id, name).await?;
            }
            print_members(&project.name, &members, json)?;
        }
        Command::Leave {
            project,
            names,
            json,
        } => {
            let project = super::project(&hone, &project).await?;
            let mut members = hone.project_members(project.id).await?;
            for name in &names {
                members = hone.remove_member(project.id, name).await?;
            }
            print_members(&project.name, &members, json)?;
        }
        Command::Members { project, json } => {
            let project = super::project(&hone, &project).await?;
            let members = hone.project_members(project.id).await?;
            print_members(&project.name, &members, json)?;
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

fn print_members(
    project: &str,
    members: &[hone_core::store::users::User],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return output::json(&members);
    }
    let names: Vec<&str> = members.iter().map(|u| u.name.as_str()).collect();
    if names.is_empty() {
        say!("{project}: no members (annotators see it only once they join)");
    } else {
        say!("{project}: {}", names.join(", "));
    }
    Ok(())
}
