//! Catalog: whatsapp (filled in by the catalog work).
