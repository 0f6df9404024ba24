fn main() {
    // Compiles the capabilities and embeds tauri.conf.json (which needs ../ui/dist built:
    // `npm run build`).
    tauri_build::build()
}
