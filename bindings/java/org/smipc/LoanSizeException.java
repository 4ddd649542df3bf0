package org.smipc;

/**
 * A loan larger than the connection lends in one piece (status {@link Status#ELOANSIZE}):
 * one packet, or with a bulk area one chunk of it, {@link ServerConfig#getBulkSize()} bytes
 * (1 MiB by default). Send such a message with {@code send}, which streams any size up to
 * the connection's max message size, or open the server with a larger {@link
 * ServerConfig#setBulkSize}. {@link #limit()} is the largest loan this connection gives.
 */
public final class LoanSizeException extends SmipcException {
  private static final long serialVersionUID = 1L;

  private final long limit;

  LoanSizeException(String what, String detail, long limit) {
    super(Status.ELOANSIZE, what, detail, 0, 0);
    this.limit = limit;
  }

  /** The largest loan this connection gives, in bytes. */
  public long limit() {
    return limit;
  }
}
