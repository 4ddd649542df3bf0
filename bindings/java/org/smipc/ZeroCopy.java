package org.smipc;

import java.nio.ByteBuffer;

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

  /** The exception for a view or loan whose ByteBuffer the JVM had no room for. */
  static SmipcException noBuffer(String what) {
    return new SmipcException(Status.ENOMEM, what + ": no room for a ByteBuffer over the "
        + "message (it was given back)");
  }
}
