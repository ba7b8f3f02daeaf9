//! A byte queue for the connection's two user-space buffers: ciphertext
//! read from the socket and not yet given to rustls, and plaintext
//! decrypted and not yet taken by a command.
//!
//! It is one allocation reused for the life of the connection: bytes are
//! appended at the end and consumed from the front, and the front is only
//! moved back when room is needed, so a bulk transfer allocates nothing
//! per record and copies each byte once in and once out.

/// How big a buffer starts, when it is first needed.
const INITIAL: usize = 128 * 1024;

#[derive(Default)]
pub(crate) struct ByteQueue {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl ByteQueue {
    /// The bytes queued, oldest first.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops the first `count` bytes (at most all of them).
    pub fn consume(&mut self, count: usize) {
        self.start += count.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for at least `wanted` more bytes, to be filled and then
    /// announced with [`ByteQueue::commit`].
    pub fn spare(&mut self, wanted: usize) -> &mut [u8] {
        if self.bytes.len() - self.end < wanted && self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.bytes.len() - self.end < wanted {
            let size = (self.end + wanted).max(INITIAL).max(self.bytes.len() * 2);
            self.bytes.resize(size, 0);
        }
        &mut self.bytes[self.end..]
    }

    /// Counts `count` bytes written into [`ByteQueue::spare`] as queued.
    pub fn commit(&mut self, count: usize) {
        assert!(
            self.end + count <= self.bytes.len(),
            "committed past the spare room"
        );
        self.end += count;
    }

    /// Appends a copy of `bytes`.
    #[cfg(test)]
    pub fn push(&mut self, bytes: &[u8]) {
        self.spare(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.commit(bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_the_order_they_went_in() {
        let mut queue = ByteQueue::default();
        queue.push(b"hello ");
        queue.push(b"world");
        assert_eq!(queue.data(), b"hello world");
        queue.consume(6);
        assert_eq!(queue.data(), b"world");
        queue.consume(100);
        assert!(queue.is_empty());
    }

    #[test]
    fn room_is_made_by_moving_the_rest_to_the_front_before_growing() {
        let mut queue = ByteQueue::default();
        queue.push(&vec![7; INITIAL - 10]);
        queue.consume(INITIAL - 20);
        queue.push(&[1; 100]);
        assert_eq!(
            queue.bytes.len(),
            INITIAL,
            "no growth while consumed room remains"
        );
        assert_eq!(queue.len(), 110);
        assert_eq!(&queue.data()[..10], &[7; 10]);
        assert_eq!(&queue.data()[10..], &[1; 100]);
    }

    #[test]
    fn a_large_push_grows_the_buffer() {
        let mut queue = ByteQueue::default();
        queue.push(&vec![3; INITIAL * 3]);
        assert_eq!(queue.len(), INITIAL * 3);
        assert!(queue.data().iter().all(|&b| b == 3));
    }
}
