//! A single-threaded one-shot channel: the futures the page API returns.
//!
//! The browser's main thread runs one task at a time, so the value and the
//! waker live in an `Rc<RefCell<…>>`. The database keeps every sender until
//! it sends the outcome, and sends an error to each when it closes, so no
//! receiver waits forever.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// Resolves a [`Receiver`] once.
pub struct Sender<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

/// A future of the value sent through its [`Sender`].
#[must_use = "a receiver does nothing unless awaited"]
pub struct Receiver<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

/// A connected pair.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Rc::new(RefCell::new(Slot {
        value: None,
        waker: None,
    }));
    (Sender { slot: slot.clone() }, Receiver { slot })
}

/// A receiver that is already resolved.
pub fn ready<T>(value: T) -> Receiver<T> {
    let (sender, receiver) = channel();
    sender.send(value);
    receiver
}

impl<T> Sender<T> {
    /// Resolves the receiver (the first value wins) and wakes its task.
    pub fn send(self, value: T) {
        let waker = {
            let mut slot = self.slot.borrow_mut();
            if slot.value.is_none() {
                slot.value = Some(value);
            }
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.borrow_mut();
        match slot.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn resolves_once_and_wakes() {
        let flag = std::sync::Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let (sender, mut receiver) = channel::<u32>();
        assert!(Pin::new(&mut receiver).poll(&mut cx).is_pending());
        sender.send(7);
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(Pin::new(&mut receiver).poll(&mut cx), Poll::Ready(7));
        assert_eq!(Pin::new(&mut ready(3)).poll(&mut cx), Poll::Ready(3));
    }
}
