//! The selection flags, turned into the library's [`Selection`] once for every command.

use phonevault::catalog::select::{parse_date, parse_size, Selection};
use phonevault::catalog::{Kind, Source};

use crate::cli::{KindArg, SelectionArgs, SourceArg};

impl From<SourceArg> for Source {
    fn from(arg: SourceArg) -> Source {
        match arg {
            SourceArg::Gallery => Source::Gallery,
            SourceArg::Whatsapp => Source::Whatsapp,
            SourceArg::WhatsappBusiness => Source::WhatsappBusiness,
        }
    }
}

impl From<KindArg> for Kind {
    fn from(arg: KindArg) -> Kind {
        match arg {
            KindArg::Photo => Kind::Photo,
            KindArg::Video => Kind::Video,
            KindArg::Audio => Kind::Audio,
            KindArg::Document => Kind::Document,
            KindArg::Sticker => Kind::Sticker,
            KindArg::Database => Kind::Database,
            KindArg::Other => Kind::Other,
        }
    }
}

/// The library's selection from the command line's flags.
///
/// # Errors
/// `InvalidSelection` for a date or size that does not parse.
pub(crate) fn selection(args: &SelectionArgs) -> phonevault::Result<Selection> {
    Ok(Selection {
        sources: args.source.iter().map(|&s| s.into()).collect(),
        albums: args.album.clone(),
        kinds: args.kind.iter().map(|&k| k.into()).collect(),
        since: args
            .since
            .as_deref()
            .map(|d| parse_date("--since", d))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|d| parse_date("--until", d))
            .transpose()?,
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        ids: args.id.clone(),
        min_size: args
            .min_size
            .as_deref()
            .map(|s| parse_size("--min-size", s))
            .transpose()?,
        max_size: args
            .max_size
            .as_deref()
            .map(|s| parse_size("--max-size", s))
            .transpose()?,
    })
}
