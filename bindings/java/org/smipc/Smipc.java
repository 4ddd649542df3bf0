package org.smipc;

/** What the library says about itself. */
public final class Smipc {
  private Smipc() {}

  /** The C library's version, "MAJOR.MINOR.PATCH". */
  public static String version() {
    return smipc.version();
  }

  /** {@code smipc_strerror}: a status in words. */
  public static String strerror(int status) {
    return smipc.strerror(status);
  }
}
