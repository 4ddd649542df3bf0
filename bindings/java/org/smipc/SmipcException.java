package org.smipc;

/**
 * A failed smipc call. {@link #status()} is the C status (a negative {@link Status}
 * constant: {@code -1} ETIMEDOUT, {@code -6} ENOTFOUND, {@code -9} ECLOSED, ...); the
 * message is what was being done and {@code smipc_strerror}'s words, and for a server name
 * that did not work, why: the rule a bad name broke, or the socket path looked at.
 */
public class SmipcException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final long needed;
  private final long delivered;

  /** A failure of {@code what} with the C status {@code status}. */
  public SmipcException(int status, String what) {
    this(status, what, 0, 0);
  }

  SmipcException(int status, String what, long needed, long delivered) {
    this(status, what, null, needed, delivered);
  }

  /** detail (may be null) follows the status's words: what to do about it. */
  SmipcException(int status, String what, String detail, long needed, long delivered) {
    super(what + ": " + smipc.strerror(status) + " (" + status + ")"
        + (detail == null ? "" : ": " + detail));
    this.status = status;
    this.needed = needed;
    this.delivered = delivered;
  }

  /** The C status, one of the negative {@link Status} constants. */
  public int status() {
    return status;
  }

  /** For {@link Status#ETOOSMALL}: the size the message needs (it stays queued). */
  public long needed() {
    return needed;
  }

  /** For a failed {@link Server#broadcast}: the clients that got the message anyway. */
  public long delivered() {
    return delivered;
  }

  static void check(int status, String what) {
    if (status != Status.OK) throw new SmipcException(status, what);
  }
}
