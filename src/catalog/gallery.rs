//! Catalog: gallery (filled in by the catalog work).
