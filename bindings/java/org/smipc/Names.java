package org.smipc;

/** What an error about a server name says besides the status: the rule a bad name broke,
 * or the socket path that was looked at. */
final class Names {
  private Names() {}

  static final String RULE = "a name is 1 to 100 letters, digits, '.', '_' or '-' (a socket in"
      + " the runtime directory); a name with '/' in it is a socket path (at most 107 bytes), used as given";

  private static final String DIRS = "the runtime directory is $SMIPC_DIR when set, else"
      + " $XDG_RUNTIME_DIR/smipc, else /tmp/smipc-<uid>; a server started with another"
      + " SMIPC_DIR or XDG_RUNTIME_DIR is not seen here";

  /** smipc_name_path: the socket path name stands for, or null for a bad name. */
  static String path(String name) {
    if (name == null) return null;
    long[] status = new long[1];
    String path = smipc.name_path_of(name, status);
    return status[0] == Status.OK ? path : null;
  }

  /**
   * Throws for a failed open or connect of name ({@code what}, e.g. {@code
   * Server("x")}), with what the user needs to fix it; {@code waitedMs} is the timeout of
   * a connect that waited for the server, or null.
   */
  static void check(int status, String what, String name, Integer waitedMs) {
    if (status == Status.OK) return;
    String path = path(name);
    String where = path == null ? "" : path;
    String detail = null;
    if (status == Status.EINVAL && path == null) {
      detail = "bad server name: " + RULE;
    } else if (status == Status.EINVAL && what.startsWith("Server")) {
      detail = "a ServerConfig value is out of its range (see ServerConfig's fields)";
    } else if (status == Status.ENOTFOUND) {
      detail = name.contains("/") ? "looked for the socket path " + where
          : "looked for its socket at " + where + " (" + DIRS + ")";
    } else if (status == Status.ETIMEDOUT && waitedMs != null) {
      detail = "no server came up at " + where + " within " + waitedMs + " ms"
          + (name.contains("/") ? "" : " (" + DIRS + ")");
    } else if (status == Status.EEXIST) {
      detail = "a live server already serves " + where;
    }
    throw new SmipcException(status, what, detail, 0, 0);
  }
}
