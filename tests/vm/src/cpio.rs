//! A minimal writer of the "newc" cpio format the kernel unpacks as an
//! initramfs: directories, regular files and symlinks.

use std::collections::BTreeSet;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
    /// Paths written. The kernel creates no missing parent directory, so
    /// each entry's are written before it.
    written: BTreeSet<String>,
}

impl Cpio {
    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.has(path) {
            return;
        }
        self.parents(path);
        self.entry(path, S_IFDIR | 0o755, &[]);
    }

    /// Whether `path` was written, as a file, a link or a directory.
    pub fn has(&self, path: &str) -> bool {
        let path = path.trim_matches('/');
        self.written.contains(path)
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.parents(path);
        self.entry(path, S_IFREG | mode, data);
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.parents(path);
        self.entry(path, S_IFLNK | 0o777, target.as_bytes());
    }

    fn parents(&mut self, path: &str) {
        if let Some((parent, _)) = path.trim_matches('/').rsplit_once('/') {
            self.dir(parent);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.out
    }

    fn entry(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.ino += 1;
        let name = path.trim_start_matches('/');
        self.written.insert(name.to_string());
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for field in fields {
            self.out
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}
