//! Rebuilds when a migration is added: `embed_migrations!` reads the `migrations/` folder at
//! compile time, and cargo does not watch a folder for new entries by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
