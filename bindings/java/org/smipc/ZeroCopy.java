package org.smipc;

import java.nio.ByteBuffer;
import java.util.function.IntSupplier;
import java.util.function.LongConsumer;

/** What the zero-copy calls of {@link Client} and {@link Server} share. */
final class ZeroCopy {
  private ZeroCopy() {}

  /** The largest loan a connection with these limits gives (C's smipc_link_loan). */
  static long loanLimit(ServerConfig cfg) {
    long packet = cfg.getPacketSize() & 0xffffffffL;
    long bulk = cfg.getBulkSlots() != 0 ? cfg.getBulkSize() & 0xffffffffL : 0;
    return Math.max(packet, bulk);
  }

  static void checkSize(int n, String what) {
    if (n < 0) throw new IllegalArgumentException(what + ": a loan of " + n + " bytes");
  }

  /** The exception for a failed loan of n bytes; cfg: the connection's limits. */
  static SmipcException loanError(int rc, String what, long n, int timeoutMs, ServerConfig cfg) {
    if (rc == Status.ELOANSIZE) {
      long limit = loanLimit(cfg);
      String where = cfg.getBulkSlots() != 0 && cfg.getBulkSize() >= cfg.getPacketSize()
          ? "its bulk_size, ServerConfig.getBulkSize()" : "one packet: it has no bulk area";
      return new LoanSizeException(what + " of " + n + " bytes",
          "a loan is at most " + limit + " bytes on this connection (" + where + "); send a "
          + "larger message with send(), which streams any size, or open the server with a "
          + "larger ServerConfig.setBulkSize (up to 64 MiB)", limit);
    }
    if (rc == Status.ETIMEDOUT)
      return new SmipcException(rc, what + ": no room to lend " + n + " bytes within "
          + timeoutMs + " ms");
    return new SmipcException(rc, what + " of " + n + " bytes");
  }

  /** A read-only direct copy of what buf shows (for a view that is a private copy). */
  static ByteBuffer copyOf(ByteBuffer buf) {
    ByteBuffer copy = ByteBuffer.allocateDirect(buf.capacity());
    copy.put(0, buf, 0, buf.capacity());
    return copy.asReadOnlyBuffer();
  }

  /**
   * The Loan for what a loan_span gave (buf, pin), inside a call (entered): ends commits or
   * cancels it, unpin lets go of the pin. With no buffer (the JVM had no room for one) the
   * loan is cancelled and unpinned at once, and that throws.
   */
  static Loan loan(Loan.Ends ends, ByteBuffer buf, long pin, LongConsumer unpin, String what) {
    if (buf == null) {
      ends.run();
      unpin.accept(pin);
      throw noBuffer(what);
    }
    Handle.CLEANER.register(buf, new Unpin(pin, unpin)); // the memory, till no buffer reaches it
    return new Loan(ends, buf, what);
  }

  /**
   * The View for what a recv_view_span gave (buf, flags, pin), inside a call (entered) on
   * handle; client: the id it shows. One the library copied, or one in place that nothing
   * pinned (its memory may go with the handle), is copied into memory of its own, unpinned
   * and released at once (the library's copy is reused by the next view: ours is our own).
   * One in place holds a lease on handle until its release, and its pin is let go once no
   * buffer reaches the memory.
   */
  static View view(Handle handle, long client, ByteBuffer buf, long flags, boolean broadcast,
      long pin, IntSupplier release, LongConsumer unpin, String what) {
    boolean copied = (flags & MessageFlag.MSG_COPY) != 0;
    if (buf == null || copied || pin == 0) {
      ByteBuffer copy;
      try {
        copy = buf == null ? null : copyOf(buf);
      } finally {
        unpin.accept(pin);
        release.getAsInt();
      }
      if (copy == null) throw noBuffer(what);
      return new View(client, copy, broadcast, copied, null);
    }
    Handle.Lease lease = new Handle.Lease(handle) {
      @Override
      int undo() {
        return release.getAsInt();
      }
    };
    Handle.CLEANER.register(buf, new Unpin(pin, unpin)); // the memory, till no buffer reaches it
    return new View(client, buf.asReadOnlyBuffer(), broadcast, false, lease);
  }

  /**
   * A Cleaner's action: lets go of a loan's or a view's pin (client_unpin_view or
   * server_unpin_view), which keeps the connection's memory mapped (only the memory: close()
   * closes the handle and its descriptors all the same). It must not reach the buffer, nor
   * the handle.
   */
  private static final class Unpin implements Runnable {
    private final long pin;
    private final LongConsumer unpin;

    Unpin(long pin, LongConsumer unpin) {
      this.pin = pin;
      this.unpin = unpin;
    }

    @Override
    public void run() {
      unpin.accept(pin);
    }
  }

  /** The exception for a view or loan whose ByteBuffer the JVM had no room for. */
  static SmipcException noBuffer(String what) {
    return new SmipcException(Status.ENOMEM, what + ": no room for a ByteBuffer over the "
        + "message (it was given back)");
  }
}
