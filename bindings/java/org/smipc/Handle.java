package org.smipc;

import java.lang.ref.Cleaner;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * What {@link Server} and {@link Client} share: calls in flight are counted (each holds
 * the read lock while it is in C), so that close() from one thread while another is
 * blocked in a call is safe. close() first shuts the C handle down, which makes the
 * blocked calls return ECLOSED at once, then waits for them (the write lock), and only
 * then frees the C handle: no call ever runs on a freed handle.
 *
 * <p>Zero-copy adds one hold on the C handle per {@link Loan} or {@link View} not yet ended
 * (a lease), until its commit, cancel or release, or close(), which ends it as its own
 * close() would: the C handle is freed when close() has run and the last lease is gone, so
 * at once after close() returns. The shared memory a loan's or view's ByteBuffer shows is
 * not kept by a hold but by a pin (smipc_client_pin, smipc_server_pin, _pin_loan: only the
 * memory, never the handle's descriptors), taken in the C call that made the loan or view
 * and let go by a {@link Cleaner} once that buffer and every buffer made from it are
 * unreachable. Finalizers play no part.
 */
abstract class Handle implements AutoCloseable {
  /** One daemon thread for the package: buffers that became unreachable (their pins), lost
   * leases. */
  static final Cleaner CLEANER = Cleaner.create();

  private final ReentrantReadWriteLock calls = new ReentrantReadWriteLock();
  private final AtomicBoolean closing = new AtomicBoolean();
  private boolean closed; // written under the write lock, read under the read lock
  private final String kind;
  private final AtomicInteger holds = new AtomicInteger(1); // 1: the handle, until close()
  private final Set<Lease> leases = ConcurrentHashMap.newKeySet();

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

  /** Keeps the C handle from being freed; only between enter() and leave(). */
  final void hold() {
    holds.incrementAndGet();
  }

  /** Lets go of a hold (from any thread); the last one frees the C handle. */
  final void letGo() {
    if (holds.decrementAndGet() == 0) closeNative();
  }

  /**
   * A loan or a view not yet ended: it holds the C handle, and exactly one call ends it,
   * its own (commit, cancel, release) or, when it was lost or the handle closes, {@link
   * #run()}'s undo (cancel, release).
   */
  abstract static class Lease implements Runnable {
    /** What {@link #end} returns for a lease that had ended already. */
    static final int ENDED = Integer.MIN_VALUE;

    private final Handle handle;
    private boolean ended; // guarded by this

    /** Only between the handle's enter() and leave(). */
    Lease(Handle handle) {
      this.handle = handle;
      handle.hold();
      handle.leases.add(this);
    }

    /** The C call that gives the loan back unsent, or releases the view. */
    abstract int undo();

    final synchronized boolean ended() {
      return ended;
    }

    /** Runs end (a C call ending the lease) unless the lease ended already: its status, or
     * {@link #ENDED}. */
    final int end(java.util.function.IntSupplier end) {
      int rc;
      synchronized (this) {
        if (ended) return ENDED;
        ended = true;
        rc = end.getAsInt();
      }
      handle.leases.remove(this);
      handle.letGo();
      return rc;
    }

    /** Undoes it, unless it ended: for close(), and the Cleaner of a lost Loan or View. */
    @Override
    public final void run() {
      end(this::undo);
    }
  }

  /** Wakes every call blocked in C (they return ECLOSED); safe while they run. */
  abstract void shutdownNative();

  /** Frees the C handle; runs once, with no call in flight and no hold left. */
  abstract void closeNative();

  /**
   * Closes the handle: calls blocked in other threads return at once with ECLOSED, and
   * every later call throws ECLOSED. Loans not yet committed are given back unsent, and
   * views are released (their accessors throw IllegalStateException). Closing twice is
   * fine.
   */
  @Override
  public final void close() {
    if (!closing.compareAndSet(false, true)) return;
    shutdownNative();
    leases.forEach(Lease::run); // a receive waiting for a view's release goes on, and ends
    calls.writeLock().lock();
    try {
      closed = true;
      leases.forEach(Lease::run); // those that calls in flight made meanwhile
    } finally {
      calls.writeLock().unlock();
    }
    letGo();
  }

  /** Whether close() was called. */
  public final boolean isClosed() {
    return closing.get();
  }
}
