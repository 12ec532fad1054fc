//! temporary
use redb::{Database, ReadableTableMetadata, TableDefinition, TableHandle};
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let db = Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    for t in txn.list_tables().unwrap() {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(t.name());
        let stats = match txn.open_table(def) {
            Ok(table) => format!("{:?} len {}", table.stats().unwrap(), table.len().unwrap()),
            Err(e) => format!("{e}"),
        };
        println!("{}: {stats}", t.name());
    }
}
