"""Results: the row schema, the store (JSON Lines), readers and exports that every stage shares."""
