//! Pictures for the photos whose first bytes hold no EXIF thumbnail (WhatsApp images,
//! screenshots, edited photos), so an archive's previews show every photo.
//!
//! A backup holds each such photo's bytes anyway: they are handed to decoding threads of
//! their own, so the copy does not wait on the decoder, and the finished pictures replace
//! the placeholders before the previews entry is written. A preview cache of the handset
//! saves the decode when the client already made that picture, and keeps the ones made here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::catalog::MediaItem;
use crate::preview::{
    decodable, decode_whole_photo, placeholder, NoPicture, PhotoInfo, Preview, PreviewCache,
    PreviewOptions, ThumbnailKind,
};

/// Photos queued beyond the ones being decoded; each is at most a held item (4 MiB) or a
/// streamed photo up to [`PreviewOptions::whole_max`], so the queue bounds the memory.
const QUEUED_PHOTOS: usize = 8;

/// One photo to decode: its placeholder (item and EXIF facts) and its bytes.
type Job = (Preview, Vec<u8>);

struct Workers {
    jobs: SyncSender<Job>,
    threads: Vec<JoinHandle<()>>,
    done: Receiver<Preview>,
}

/// The decoding threads of one backup, started when the first photo needs them.
pub(super) struct LatePictures {
    cache: Option<PreviewCache>,
    workers: Mutex<Option<Workers>>,
    /// Tripped when the backup was cancelled: what is still queued stays a placeholder.
    give_up: Arc<AtomicBool>,
}

impl LatePictures {
    pub(super) fn new(cache: Option<PreviewCache>) -> Self {
        LatePictures {
            cache,
            workers: Mutex::new(None),
            give_up: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a photo of this size and format gets a decoded picture when its first bytes
    /// hold no EXIF thumbnail, so its bytes are worth keeping while it is copied.
    pub(super) fn wants_bytes(item: &MediaItem) -> bool {
        decodable(item) && item.size <= PreviewOptions::default().whole_max
    }

    /// The preview of a photo with no EXIF thumbnail: a placeholder now, replaced by
    /// [`LatePictures::finish`] when `bytes` (the whole file) are given and decodable.
    pub(super) fn preview(
        &self,
        item: &MediaItem,
        info: PhotoInfo,
        bytes: Option<Vec<u8>>,
    ) -> Preview {
        let mut notes = info.notes.clone();
        let why = if !decodable(item) {
            NoPicture::NoDecoder
        } else if !Self::wants_bytes(item) {
            NoPicture::TooLarge
        } else {
            if bytes.is_none() {
                // Only a big photo whose head held an EXIF thumbnail is not kept whole.
                notes.push("its EXIF thumbnail cannot be decoded".to_owned());
            }
            NoPicture::Damaged
        };
        let mut preview = placeholder(item, info, notes, why);
        if let Some(bytes) = bytes.filter(|_| Self::wants_bytes(item)) {
            // The decoder says why when it cannot make a picture; a backup cancelled before
            // it got to this one leaves the reason unsaid.
            preview.no_picture = None;
            self.queue((preview.clone(), bytes));
        }
        preview
    }

    fn queue(&self, job: Job) {
        let sender = self
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| self.start())
            .jobs
            .clone();
        // Blocks while the queue is full: the copy slows to the decoder's pace rather than
        // holding every photo in memory.
        let _ = sender.send(job);
    }

    fn start(&self) -> Workers {
        let (jobs, queue) = sync_channel::<Job>(QUEUED_PHOTOS);
        let queue = Arc::new(Mutex::new(queue));
        let count = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let (done, finished) = channel();
        let threads = (0..count)
            .map(|_| {
                let queue = Arc::clone(&queue);
                let done = done.clone();
                let cache = self.cache.clone();
                let give_up = Arc::clone(&self.give_up);
                std::thread::spawn(move || loop {
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((placeholder, bytes)) = job else {
                        return;
                    };
                    if give_up.load(Ordering::Relaxed) {
                        continue;
                    }
                    let _ = done.send(picture(cache.as_ref(), placeholder, &bytes));
                })
            })
            .collect();
        Workers {
            jobs,
            threads,
            done: finished,
        }
    }

    /// Waits for the pictures still being decoded and puts them in place of their
    /// placeholders in `previews`; with `cancelled`, what was not decoded yet stays a
    /// placeholder.
    pub(super) fn finish(self, previews: &mut [Preview], cancelled: bool) {
        if cancelled {
            self.give_up.store(true, Ordering::Relaxed);
        }
        let workers = self
            .workers
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(workers) = workers else { return };
        drop(workers.jobs);
        for thread in workers.threads {
            let _ = thread.join();
        }
        let mut pictures: HashMap<String, Preview> = workers
            .done
            .into_iter()
            .map(|p| (p.item.path.clone(), p))
            .collect();
        for slot in previews.iter_mut() {
            if slot.thumbnail == ThumbnailKind::Placeholder {
                if let Some(picture) = pictures.remove(&slot.item.path) {
                    *slot = picture;
                }
            }
        }
    }
}

/// The picture of one photo: from the cache when it holds this exact file's, else decoded
/// (and cached).
fn picture(cache: Option<&PreviewCache>, placeholder: Preview, bytes: &[u8]) -> Preview {
    if let Some(hit) = cache
        .and_then(|c| c.get(&placeholder.item))
        .filter(|hit| hit.image.is_some())
    {
        return hit;
    }
    let made = decode_whole_photo(&placeholder.item, placeholder.info, bytes);
    if let Some(cache) = cache {
        // A cache that cannot be written costs a decode next time, nothing more.
        let _ = cache.put(&made);
    }
    made
}
