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

  /**
   * {@code smipc_name_path}: the socket path a server name stands for (a name of the
   * runtime directory, or a path used as given). Creates nothing, and says nothing of
   * whether a server is there; a bad name throws EINVAL with the rule it broke.
   */
  public static String namePath(String name) {
    String path = Names.path(name);
    if (path == null) Names.check(Status.EINVAL, "Smipc.namePath(\"" + name + "\")", name, null);
    return path;
  }
}
