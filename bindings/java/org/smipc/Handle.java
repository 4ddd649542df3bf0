package org.smipc;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * What {@link Server} and {@link Client} share: calls in flight are counted (each holds
 * the read lock while it is in C), so that close() from one thread while another is
 * blocked in a call is safe. close() first shuts the C handle down, which makes the
 * blocked calls return ECLOSED at once, then waits for them (the write lock), and only
 * then frees the C handle: no call ever runs on a freed handle. Finalizers play no part.
 */
abstract class Handle implements AutoCloseable {
  private final ReentrantReadWriteLock calls = new ReentrantReadWriteLock();
  private final AtomicBoolean closing = new AtomicBoolean();
  private boolean closed; // written under the write lock, read under the read lock
  private final String kind;

  Handle(String kind) {
    this.kind = kind;
  }

  /** Counts a call in; a closed handle throws ECLOSED. Pair with {@link #leave()}. */
  final void enter(String what) {
    calls.readLock().lock();
    if (closed) {
      calls.readLock().unlock();
      throw new SmipcException(Status.ECLOSED, what + ": this " + kind + " is closed");
    }
  }

  final void leave() {
    calls.readLock().unlock();
  }

  /** Wakes every call blocked in C (they return ECLOSED); safe while they run. */
  abstract void shutdownNative();

  /** Frees the C handle; runs once, with no call in flight. */
  abstract void closeNative();

  /**
   * Closes the handle: calls blocked in other threads return at once with ECLOSED, and
   * every later call throws ECLOSED. Closing twice is fine.
   */
  @Override
  public final void close() {
    if (!closing.compareAndSet(false, true)) return;
    shutdownNative();
    calls.writeLock().lock();
    try {
      closed = true;
      closeNative();
    } finally {
      calls.writeLock().unlock();
    }
  }

  /** Whether close() was called. */
  public final boolean isClosed() {
    return closing.get();
  }
}
