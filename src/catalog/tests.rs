//! The catalog's sorting rules on made-up listings (the shared contract, case by case).

use super::*;
use crate::helper::{ListedFile, Listing};

fn listing(paths: &[&str]) -> Listing {
    Listing {
        files: paths
            .iter()
            .map(|p| ListedFile {
                path: (*p).to_string(),
                size: p.len() as u64,
                mtime: 1_700_000_000,
            })
            .collect(),
        ..Listing::default()
    }
}

fn built(paths: &[&str], include_hidden: bool) -> Vec<MediaItem> {
    build(
        "SERIAL",
        &listing(paths),
        &CatalogOptions { include_hidden },
    )
}

fn one(path: &str) -> Option<MediaItem> {
    built(&[path], false).pop()
}

fn summary(item: &MediaItem) -> (Source, &str, Kind, bool, bool) {
    (
        item.source,
        item.album.as_str(),
        item.kind,
        item.sent,
        item.private,
    )
}

#[test]
fn gallery_albums_are_parent_folders() {
    let i = one("/sdcard/DCIM/Camera/PXL_20240312_153012345.jpg").unwrap();
    assert_eq!(
        summary(&i),
        (Source::Gallery, "Camera", Kind::Photo, false, false)
    );
    assert_eq!(i.root, "/sdcard");
    assert_eq!(i.rel_path, "DCIM/Camera/PXL_20240312_153012345.jpg");
    assert_eq!(i.taken.unwrap().offset_seconds, Some(0));
    assert_eq!(i.id.len(), 12);
    assert_eq!(
        one("/sdcard/Pictures/Screenshots/x.PNG").unwrap().album,
        "Screenshots"
    );
    let v = one("/sdcard/Movies/x.mp4").unwrap();
    assert_eq!((v.album.as_str(), v.kind), ("Movies", Kind::Video));
    assert_eq!(
        one("/sdcard/DCIM/Camera/deep/er/y.heic").unwrap().album,
        "er"
    );
}

#[test]
fn gallery_leaves_out_hidden_and_non_media() {
    for path in [
        "/sdcard/DCIM/.thumbnails/1.jpg",
        "/sdcard/DCIM/Camera/.trashed-1700000000-x.jpg",
        "/sdcard/DCIM/Camera/.pending-1700000000-x.jpg",
        "/sdcard/DCIM/Camera/.hidden.jpg",
        "/sdcard/DCIM/Camera/notes.txt",
        "/sdcard/DCIM/Camera/song.mp3",
        "/sdcard/Download/x.jpg",
        "/sdcard/DCIM/x",
        "/sdcard/DCIMx/Camera/x.jpg",
    ] {
        assert_eq!(one(path), None, "{path}");
    }
    let paths = [
        "/sdcard/Pictures/Secret/.nomedia",
        "/sdcard/Pictures/Secret/a.jpg",
        "/sdcard/Pictures/Secret/below/b.jpg",
        "/sdcard/Pictures/Open/c.jpg",
    ];
    let items = built(&paths, false);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].path, "/sdcard/Pictures/Open/c.jpg");
    let all = built(&paths, true);
    assert_eq!(all.len(), 3, "--all shows .nomedia folders: {all:?}");
    assert_eq!(
        built(&["/sdcard/DCIM/.thumbnails/1.jpg"], true).len(),
        1,
        "--all shows dot-folders"
    );
}

#[test]
fn whatsapp_folders_in_both_layouts() {
    let legacy = "/sdcard/WhatsApp/Media";
    let modern = "/sdcard/Android/media/com.whatsapp/WhatsApp/Media";
    for base in [legacy, modern] {
        let cases = [
            (
                "WhatsApp Images/IMG-20240312-WA0001.jpg",
                "Images",
                Kind::Photo,
            ),
            (
                "WhatsApp Video/VID-20240312-WA0001.mp4",
                "Video",
                Kind::Video,
            ),
            (
                "WhatsApp Animated Gifs/VID-20240312-WA0002.mp4",
                "Animated Gifs",
                Kind::Video,
            ),
            (
                "WhatsApp Audio/AUD-20240312-WA0001.m4a",
                "Audio",
                Kind::Audio,
            ),
            (
                "WhatsApp Voice Notes/202411/PTT-20240312-WA0001.opus",
                "Voice Notes",
                Kind::Audio,
            ),
            (
                "WhatsApp Documents/DOC-20240312-WA0001.pdf",
                "Documents",
                Kind::Document,
            ),
            (
                "WhatsApp Stickers/STK-20240312-WA0001.webp",
                "Stickers",
                Kind::Sticker,
            ),
            (".Statuses/abc.jpg", "Statuses", Kind::Photo),
            (".Statuses/abc.mp4", "Statuses", Kind::Video),
            (
                "WhatsApp Profile Photos/p.jpg",
                "Profile Photos",
                Kind::Photo,
            ),
            ("WallPaper/w.jpg", "Wallpaper", Kind::Photo),
            ("WhatsApp Images/weird.xyz", "Images", Kind::Other),
        ];
        for (rel, album, kind) in cases {
            let path = format!("{base}/{rel}");
            let i = one(&path).unwrap_or_else(|| panic!("{path} left out"));
            assert_eq!(
                summary(&i),
                (Source::Whatsapp, album, kind, false, false),
                "{path}"
            );
            assert!(i.root.ends_with("/WhatsApp"), "{}", i.root);
            assert!(i.rel_path.starts_with("Media/"), "{}", i.rel_path);
        }
    }
    let db = one("/sdcard/WhatsApp/Databases/msgstore.db.crypt14").unwrap();
    assert_eq!(
        summary(&db),
        (Source::Whatsapp, "Chats", Kind::Database, false, false)
    );
}

#[test]
fn whatsapp_sent_private_and_business() {
    let sent = one("/sdcard/WhatsApp/Media/WhatsApp Images/Sent/IMG-20240312-WA0003.jpg").unwrap();
    assert!(sent.sent && !sent.private);
    let private =
        one("/sdcard/WhatsApp/Media/WhatsApp Video/Private/VID-20240312-WA0003.mp4").unwrap();
    assert!(private.private && !private.sent);
    let b = one("/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business/Media/WhatsApp Business Images/IMG-20240312-WA0001.jpg").unwrap();
    assert_eq!(
        summary(&b),
        (
            Source::WhatsappBusiness,
            "Images",
            Kind::Photo,
            false,
            false
        )
    );
    let b = one("/sdcard/WhatsApp Business/Media/WhatsApp Business Documents/x.docx").unwrap();
    assert_eq!(b.source, Source::WhatsappBusiness);
    assert_eq!(b.root, "/sdcard/WhatsApp Business");
}

#[test]
fn whatsapp_leaves_out_other_folders_and_dot_files() {
    for path in [
        "/sdcard/WhatsApp/Backups/chatsettingsbackup.db.crypt1",
        "/sdcard/WhatsApp/.Shared/x.jpg",
        "/sdcard/WhatsApp/Media/WhatsApp Images/Sent/.nomedia",
        "/sdcard/WhatsApp/Media/WhatsApp Images/.nomedia",
        "/sdcard/WhatsApp/Media/.Statuses/.nomedia",
        "/sdcard/WhatsApp/Media/WhatsApp Images/.hidden.jpg",
        "/sdcard/WhatsApp/Media/WhatsApp Bogus/x.jpg",
        "/sdcard/WhatsApp/Media/x.jpg",
        "/sdcard/WhatsApp/x.jpg",
        "/sdcard/Android/media/com.whatsapp/WhatsApp/Media/.Links/x.jpg",
        "/sdcard/WhatsApp Business/Media/WhatsApp Images/x.jpg",
    ] {
        assert_eq!(one(path), None, "{path}");
    }
}

#[test]
fn whatsapp_items_ignore_nomedia_in_sent_and_private() {
    let items = built(
        &[
            "/sdcard/WhatsApp/Media/WhatsApp Images/Private/.nomedia",
            "/sdcard/WhatsApp/Media/WhatsApp Images/Private/IMG-20240312-WA0009.jpg",
            "/sdcard/WhatsApp/Media/WhatsApp Images/Sent/.nomedia",
            "/sdcard/WhatsApp/Media/WhatsApp Images/Sent/IMG-20240312-WA0010.jpg",
        ],
        false,
    );
    assert_eq!(items.len(), 2);
}

#[test]
fn sd_cards_are_gallery_roots() {
    let mut l = listing(&["/storage/1234-ABCD/DCIM/Camera/20230704_221501.jpg"]);
    l.sd_cards.push("/storage/1234-ABCD".into());
    let items = build("S", &l, &CatalogOptions::default());
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].root, "/storage/1234-ABCD");
    assert_eq!(items[0].rel_path, "DCIM/Camera/20230704_221501.jpg");
    assert_eq!(items[0].album, "Camera");
}

#[test]
fn ids_are_stable_and_per_handset() {
    assert_eq!(item_id("A", "/sdcard/x.jpg"), item_id("A", "/sdcard/x.jpg"));
    assert_ne!(item_id("A", "/sdcard/x.jpg"), item_id("B", "/sdcard/x.jpg"));
    assert!(item_id("A", "/x").bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn names_with_newlines_and_other_scripts_are_kept() {
    let items = built(
        &[
            "/sdcard/DCIM/Camera/new\nline.jpg",
            "/sdcard/Pictures/Отпуск/写真 1.jpg",
        ],
        false,
    );
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].album, "Отпуск");
}

/// `photo\xff.jpg` and `photo\u{fffd}.jpg` (and a literal `photo\xFF.jpg`) are three files:
/// three items, three ids, and JSON that carries each one's exact bytes.
#[test]
fn names_that_read_alike_stay_apart() {
    let paths = [
        crate::escape::phone_path_text(b"/sdcard/DCIM/Camera/photo\xff.jpg").into_owned(),
        "/sdcard/DCIM/Camera/photo\u{fffd}.jpg".to_string(),
        crate::escape::phone_path_text(b"/sdcard/DCIM/Camera/photo\\xFF.jpg").into_owned(),
    ];
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let items = built(&refs, false);
    assert_eq!(items.len(), 3);
    let ids: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    let invalid = items
        .iter()
        .find(|i| i.path.ends_with("photo\\xFF.jpg") && !i.path.ends_with("\\\\xFF.jpg"))
        .unwrap();
    assert_eq!(invalid.rel_path, "DCIM/Camera/photo\\xFF.jpg");
    assert_eq!(invalid.album, "Camera");
    // The id hashes the exact bytes, as it always did for UTF-8 names.
    assert_eq!(
        invalid.id,
        item_id(
            "SERIAL",
            &crate::escape::phone_path_text(b"/sdcard/DCIM/Camera/photo\xff.jpg")
        )
    );

    let json = serde_json::to_value(invalid).unwrap();
    assert_eq!(json["path"], "/sdcard/DCIM/Camera/photo\\xFF.jpg");
    assert_eq!(json["raw_path"], "L3NkY2FyZC9EQ0lNL0NhbWVyYS9waG90b/8uanBn");
    let back: MediaItem = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(&back, invalid);
    let plain = items.iter().find(|i| i.path.contains('\u{fffd}')).unwrap();
    let plain_json = serde_json::to_value(plain).unwrap();
    assert!(plain_json.get("raw_path").is_none(), "{plain_json}");

    let mut tampered = json;
    tampered["raw_path"] = "L3NkY2FyZC9ldGMvcGFzc3dk".into(); // "/sdcard/etc/passwd"
    assert!(serde_json::from_value::<MediaItem>(tampered).is_err());
}

#[test]
fn rel_paths_may_hold_backslashes_but_never_climb() {
    for good in [
        "DCIM/back\\\\slash.jpg",
        "DCIM/photo\\xFF.jpg",
        "Media/x..y/..z",
    ] {
        check_rel_path(good).unwrap();
    }
    for bad in ["", "/abs", "../x", "a/../b", "a//b", "./a", "a/.", "a\0b"] {
        assert!(
            matches!(check_rel_path(bad), Err(Error::UnsafePath { .. })),
            "{bad:?} was accepted"
        );
    }
}

/// The helper's `@sdcards` lists exactly the Gallery's folders of each card.
#[test]
fn the_helpers_sd_card_folders_are_the_gallerys() {
    assert_eq!(crate::helper::SD_CARD_FOLDERS, super::gallery::FOLDERS);
}
