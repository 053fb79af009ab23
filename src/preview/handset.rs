//! Preview bytes from a phone: first bytes of many files through the on-device helper (one
//! exec call per batch), whole files pipelined over sync ([`Handset::pull_many`]), partial
//! reads with `head -c`.

use std::io::Read;

use super::{Head, PreviewSource};
use crate::adb::{Handset, PullEvent};
use crate::catalog::MediaItem;
use crate::helper::{self, FileStatus};
use crate::{Error, Result};

/// A [`PreviewSource`] that reads from a handset.
#[derive(Debug)]
pub struct HandsetSource<'a> {
    handset: &'a Handset,
}

impl<'a> HandsetSource<'a> {
    pub fn new(handset: &'a Handset) -> Self {
        HandsetSource { handset }
    }
}

impl PreviewSource for HandsetSource<'_> {
    fn heads(&mut self, items: &[&MediaItem], limit: usize) -> Result<Vec<Head>> {
        let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
        let mut heads = Vec::with_capacity(items.len());
        helper::heads(
            self.handset,
            &paths,
            limit as u64,
            &mut |_, status, bytes| {
                heads.push(match status {
                    FileStatus::Ok => Head::Bytes(bytes.to_vec()),
                    FileStatus::Missing => Head::Unreadable("gone since it was listed".into()),
                    FileStatus::Denied => Head::Unreadable("permission denied".into()),
                    FileStatus::Directory => Head::Unreadable("is a folder".into()),
                    FileStatus::Error => Head::Unreadable("could not be read".into()),
                });
                Ok(())
            },
        )?;
        Ok(heads)
    }

    fn whole(&mut self, item: &MediaItem, max: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        if max >= item.size {
            self.handset.pull(&item.path, &mut bytes)?;
            return Ok(bytes);
        }
        // Sync has no offset or length: a part of a file comes through `head -c`.
        let command = format!("head -c {max} {}", helper::shell_quote(&item.path));
        let mut stream = self.handset.exec(&command)?;
        stream
            .by_ref()
            .take(max)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                self.handset.cancel_token().or_error(Error::DeviceGone {
                    serial: self.handset.serial().to_string(),
                    path: Some(item.path.clone()),
                    detail: e.to_string(),
                })
            })?;
        Ok(bytes)
    }

    fn wholes(
        &mut self,
        items: &[&MediaItem],
        deliver: &mut dyn FnMut(usize, Head) -> Result<()>,
    ) -> Result<()> {
        let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
        let mut file = Vec::new();
        self.handset.pull_many(&paths, &mut |event| match event {
            PullEvent::Start { .. } => {
                file = Vec::new();
                Ok(())
            }
            PullEvent::Data { index, bytes } => {
                // A file that grew since the listing is kept to its listed size: memory stays
                // bounded by what the catalog said.
                let room = usize::try_from(items[index].size)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(file.len());
                file.extend_from_slice(&bytes[..bytes.len().min(room)]);
                Ok(())
            }
            PullEvent::Done { index } => deliver(index, Head::Bytes(std::mem::take(&mut file))),
            PullEvent::Failed { index, message } => deliver(index, Head::Unreadable(message)),
        })
    }
}
