//! Catalog: dates (filled in by the catalog work).
