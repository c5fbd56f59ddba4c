//! An upload kept on disk while it is read (imports that stream, `docs/pii-and-spreadsheets.md`).
//!
//! A spreadsheet import may be hundreds of megabytes: it is received into a temporary file, not
//! into memory, and read from there row by row. The file holds personal ID numbers, which are
//! never written to disk in clear: every byte is encrypted with AES-256 in counter mode under a
//! key and nonce drawn for this upload and kept only in memory. The file is unlinked as soon as it
//! is created, so it disappears with its handle, even when the process is killed; what a crash
//! leaves on the disk is unreadable without a key that no longer exists.
//!
//! Counter mode lets a reader seek (an xlsx file is a zip read from its end), and each write
//! encrypts at its own offset, so the file is appended to in any chunk sizes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use rand::RngCore;

type Cipher = ctr::Ctr128BE<Aes256>;

/// The file being written.
pub struct Spool {
    file: File,
    cipher: Cipher,
    key: [u8; 32],
    nonce: [u8; 16],
    len: u64,
}

impl Spool {
    /// A new, empty spool file in `dir`, already unlinked.
    pub fn create(dir: &Path) -> io::Result<Spool> {
        let mut key = [0u8; 32];
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut key);
        rand::thread_rng().fill_bytes(&mut nonce);
        let path = dir.join(format!(
            ".credit-lists-upload-{}.spool",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        // The name goes at once: nothing is left behind, whatever happens next.
        std::fs::remove_file(&path)?;
        Ok(Spool {
            file,
            cipher: Cipher::new(&key.into(), &nonce.into()),
            key,
            nonce,
            len: 0,
        })
    }

    /// Appends `data` (encrypted).
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut sealed = data.to_vec();
        self.cipher.apply_keystream(&mut sealed);
        self.file.write_all(&sealed)?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole upload, to be read from its start.
    pub fn into_reader(mut self) -> io::Result<SpoolReader> {
        self.file.flush()?;
        self.file.seek(SeekFrom::Start(0))?;
        Ok(SpoolReader {
            file: self.file,
            cipher: Cipher::new(&self.key.into(), &self.nonce.into()),
            pos: 0,
            len: self.len,
        })
    }
}

/// Reads a [`Spool`] back in clear (Read and Seek, unbuffered: wrap it in a `BufReader`).
pub struct SpoolReader {
    file: File,
    cipher: Cipher,
    pos: u64,
    len: u64,
}

impl SpoolReader {
    /// Bytes of the upload.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.cipher.apply_keystream(&mut buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SpoolReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = self.file.seek(to)?;
        self.cipher.seek(pos);
        self.pos = pos;
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_and_is_not_on_disk_in_clear() {
        let dir = std::env::temp_dir();
        let mut spool = Spool::create(&dir).unwrap();
        let text = "身份证号 11010519491231002X,".repeat(1000);
        for chunk in text.as_bytes().chunks(777) {
            spool.append(chunk).unwrap();
        }
        assert_eq!(spool.len(), text.len() as u64);
        // What the file holds is not the text.
        let mut raw = Vec::new();
        let mut file = spool.file.try_clone().unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut raw).unwrap();
        assert_eq!(raw.len(), text.len());
        assert!(!raw.windows(18).any(|w| w == b"11010519491231002X"));
        let mut reader = spool.into_reader().unwrap();
        let mut back = String::new();
        reader.read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
        // Seeking anywhere decrypts from there.
        reader.seek(SeekFrom::Start(13)).unwrap();
        let mut part = vec![0u8; 18];
        reader.read_exact(&mut part).unwrap();
        assert_eq!(&part, &text.as_bytes()[13..31]);
        reader.seek(SeekFrom::End(-5)).unwrap();
        let mut tail = Vec::new();
        reader.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &text.as_bytes()[text.len() - 5..]);
    }

    #[test]
    fn the_file_has_no_name() {
        let dir = tempfile_dir();
        let spool = Spool::create(&dir).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(names.is_empty(), "{names:?}");
        drop(spool);
        std::fs::remove_dir(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spool-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        dir
    }
}
