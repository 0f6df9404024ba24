// The UI is embedded at compile time: rebuild when `npm run build` writes a new one.
fn main() {
    println!("cargo:rerun-if-changed=../../ui/dist");
}
