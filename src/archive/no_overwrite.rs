//! The no-overwrite rule restore and extract share: a different file under an item's name is
//! never replaced without being asked; "keep both" puts the item under the first free
//! numbered name, `IMG_1 (1).jpg`, and a numbered copy already holding the item's bytes
//! counts as the item being there.
//!
//! `restore::numbered_name` applies the same rule to phone paths; this one works on `/`
//! separated names (zip entry names, phone paths) whether or not they hold a folder.

/// `IMG_1.jpg` -> `IMG_1 (n).jpg`, on the last `/` component of `name`. A dot at the start
/// of the file name is not an extension (`.hidden` -> `.hidden (1)`), and only the last
/// extension moves (`a.tar.gz` -> `a.tar (1).gz`).
pub fn numbered_name(name: &str, n: u32) -> String {
    let (folder, file) = match name.rsplit_once('/') {
        Some((folder, file)) => (Some(folder), file),
        None => (None, name),
    };
    let (stem, extension) = match file.rfind('.') {
        Some(dot) if dot > 0 => file.split_at(dot),
        _ => (file, ""),
    };
    match folder {
        Some(folder) => format!("{folder}/{stem} ({n}){extension}"),
        None => format!("{stem} ({n}){extension}"),
    }
}

#[cfg(test)]
mod tests {
    use super::numbered_name;

    #[test]
    fn numbers_go_before_the_last_extension_of_the_file_name() {
        assert_eq!(
            numbered_name("gallery/DCIM/Camera/with space.jpg", 1),
            "gallery/DCIM/Camera/with space (1).jpg"
        );
        assert_eq!(numbered_name("/d/a.tar.gz", 2), "/d/a.tar (2).gz");
        assert_eq!(numbered_name("/d/noext", 1), "/d/noext (1)");
        assert_eq!(numbered_name("/d/.hidden", 1), "/d/.hidden (1)");
        assert_eq!(numbered_name("IMG_1.jpg", 3), "IMG_1 (3).jpg");
        // A dot in a folder name is not the file's extension.
        assert_eq!(numbered_name("a.b/noext", 1), "a.b/noext (1)");
    }
}
