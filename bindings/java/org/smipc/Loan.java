package org.smipc;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

/**
 * Room for one message inside the connection's shared memory ({@link Client#loan}, {@link
 * Server#loan}): write the message in place through {@link #buffer()}, then {@link
 * #commit(int)} sends its first bytes, with no copy; {@link #close()} without a commit (or
 * {@link #cancel()}) gives the room back unsent, so try-with-resources never leaks one:
 *
 * <pre>{@code
 * try (Loan loan = cli.loan(n, 1000)) {
 *   ByteBuffer buf = loan.buffer();   // n bytes, direct, writable
 *   buf.putLong(0, 42);
 *   loan.commit(8);                   // sends the first 8 bytes
 * }
 * }</pre>
 *
 * <p>Until the loan ends, other sends on that handle (a server's: to that client) wait.
 * Commit, cancel and close may come from any thread; the first one ends the loan, and after
 * it {@link #buffer()} throws IllegalStateException. A client's buffer stays mapped (pinned:
 * only the memory, close() still closes the client's descriptors at once) while it (or a
 * buffer made from it) is reachable, even after the client is closed, so touching it late
 * never crashes, but what is written there then goes nowhere and may overwrite a later
 * message's room: keep it only inside the block. A server's buffer is the client's
 * connection memory, pinned by the server while the buffer (or one made from it) is
 * reachable, through the commit, the client's departure and the server's close alike: it
 * never crashes either, but after the commit the client reads there and later sends write
 * there again, so what it shows may change and what is written there may corrupt a later
 * message: do not touch it after the loan ends.
 */
public final class Loan implements AutoCloseable {
  /** How a loan ends: C's commit and cancel for one handle (and client). */
  abstract static class Ends extends Handle.Lease {
    Ends(Handle handle) {
      super(handle);
    }

    abstract int commit(long n);
  }

  private final Ends ends;
  private final Cleaner.Cleanable cancelIfLost;
  private final String what;
  private final int size;
  private final ByteBuffer buf;

  Loan(Ends ends, ByteBuffer buf, String what) {
    this.ends = ends;
    this.buf = buf;
    this.what = what;
    size = buf.capacity();
    cancelIfLost = Handle.CLEANER.register(this, ends); // a loan nobody ended, given back
  }

  /**
   * The room: a direct, writable ByteBuffer of {@link #size()} bytes (position 0, limit its
   * capacity) over the shared memory. Throws IllegalStateException once the loan ended.
   */
  public ByteBuffer buffer() {
    if (ends.ended())
      throw new IllegalStateException(what + ": this loan was committed, cancelled or closed");
    return buf;
  }

  /** How many bytes were lent (what {@link #commit()} sends). */
  public int size() {
    return size;
  }

  /** Whether it ended (committed, cancelled, closed, or its handle closed). */
  public boolean isDone() {
    return ends.ended();
  }

  /**
   * Sends the first {@code n} bytes of the buffer as one message and ends the loan. Throws
   * IllegalArgumentException (the loan stays) for {@code n} outside 0 .. {@link #size()},
   * IllegalStateException if it had ended, and SmipcException when the peer is gone
   * (ECLOSED; the loan ends all the same).
   */
  public void commit(int n) {
    if (n < 0 || n > size)
      throw new IllegalArgumentException(what + ": commit of " + n + " bytes of a loan of " + size);
    int rc = ends.end(() -> ends.commit(n));
    if (rc == Handle.Lease.ENDED)
      throw new IllegalStateException(what + ": this loan was committed, cancelled or closed");
    cancelIfLost.clean(); // nothing left to give back
    SmipcException.check(rc, what + ": commit");
  }

  /** Sends all {@link #size()} bytes: {@code commit(size())}. */
  public void commit() {
    commit(size);
  }

  /** Gives the room back unsent; nothing is sent. After a commit (or twice) it does nothing. */
  public void cancel() {
    cancelIfLost.clean();
  }

  /** {@link #cancel()}: without a commit, nothing is sent. */
  @Override
  public void close() {
    cancel();
  }
}
