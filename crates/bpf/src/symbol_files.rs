//! BCC trace's `-s FILE,...`: files that name the frames of any mapped
//! file with the same build id, such as the unstripped copy of a
//! stripped binary, or its separate debug file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct SymbolFiles {
    by_id: HashMap<Vec<u8>, PathBuf>,
    /// The build id of each mapped file asked about (None: it has none).
    mapped: HashMap<PathBuf, Option<Vec<u8>>>,
}

impl SymbolFiles {
    /// Reads each file's build id; an error names a file that cannot be
    /// read or has none (no frame could ever be matched to it).
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<SymbolFiles, String> {
        let mut files = SymbolFiles::default();
        for path in paths {
            let id = match blazesym::helper::read_elf_build_id(path) {
                Ok(Some(id)) => id.to_vec(),
                Ok(None) => {
                    return Err(format!(
                        "symbol file {} has no build id: frames are matched to symbol files \
                         by build id (link with --build-id)",
                        path.display()
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "symbol file {}: {e}: give ELF files, separated by commas",
                        path.display()
                    ))
                }
            };
            files.by_id.entry(id).or_insert_with(|| path.to_path_buf());
        }
        Ok(files)
    }

    /// The symbol file with build id `id`.
    pub fn by_id(&self, id: &[u8]) -> Option<&Path> {
        self.by_id.get(id).map(PathBuf::as_path)
    }

    /// The symbol file that stands in for mapped file `path` (same build
    /// id), if any.
    pub fn stand_in(&mut self, path: &Path) -> Option<PathBuf> {
        if self.by_id.is_empty() {
            return None;
        }
        // Asked for every user frame: the path is copied only the first
        // time it is seen.
        if !self.mapped.contains_key(path) {
            let id = blazesym::helper::read_elf_build_id(path).ok().flatten();
            self.mapped
                .insert(path.to_path_buf(), id.map(|id| id.to_vec()));
        }
        let id = self.mapped.get(path)?.as_deref()?;
        self.by_id.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary itself has a build id (Debian's linker adds one);
    /// a copy of it stands in for it, a file without one is refused.
    #[test]
    fn files_stand_in_by_build_id() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy");
        std::fs::copy(&exe, &copy).unwrap();
        let mut files = SymbolFiles::new([copy.as_path()]).unwrap();
        assert_eq!(files.stand_in(&exe), Some(copy.clone()));
        let id = blazesym::helper::read_elf_build_id(&exe).unwrap().unwrap();
        assert_eq!(files.by_id(&id), Some(copy.as_path()));
        let text = dir.path().join("text");
        std::fs::write(&text, "not ELF").unwrap();
        assert_eq!(files.stand_in(&text), None);
        let e = SymbolFiles::new([text.as_path()]).unwrap_err();
        assert!(
            e.starts_with(&format!("symbol file {}: ", text.display())),
            "{e}"
        );
        let e = SymbolFiles::new([Path::new("/nonexistent/x")]).unwrap_err();
        assert!(e.contains("give ELF files"), "{e}");
    }
}
