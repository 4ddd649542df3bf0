package org.smipc;

import java.nio.ByteBuffer;

/**
 * An smipc server: owns a name, and clients connect to it. Thread-safe: several threads
 * may receive, send and broadcast at once; a blocking call never stops other threads.
 * Close it (try-with-resources) to release the name and disconnect every client.
 * Timeouts are milliseconds: {@code < 0} waits for ever, {@code 0} never blocks. With
 * {@link ServerConfig#setEvents} on, {@link #recvEvent} also tells when clients join and
 * leave.
 */
public final class Server extends Handle {
  private final SWIGTYPE_p_smipc_server h;
  private final String name;

  /** Serves {@code name} with the library's default limits. */
  public Server(String name) {
    this(name, null);
  }

  /** Serves {@code name} with the limits of {@code cfg} ({@code null}: the defaults). */
  public Server(String name, ServerConfig cfg) {
    super("server");
    long[] status = new long[1];
    h = smipc.server_open_handle(name, cfg, status);
    Names.check((int) status[0], "Server(\"" + name + "\")", name, null);
    this.name = name;
  }

  /** The name it serves. */
  public String name() {
    return name;
  }

  /** The next whole message from any client (round-robin over them). */
  public Message recv(int timeoutMs) {
    long[] from = new long[1];
    long[] len = new long[1];
    enter("Server.recv");
    try {
      ByteBuffer b = Buffers.scratch(0, "Server.recv");
      for (; ; ) {
        len[0] = b.capacity();
        int rc = smipc.server_recv(h, from, b, len, timeoutMs);
        if (rc == Status.ETOOSMALL) { // still queued: again, with room for it
          b = Buffers.scratch(len[0], "Server.recv");
          continue;
        }
        SmipcException.check(rc, "Server.recv");
        byte[] data = new byte[(int) len[0]];
        b.get(0, data);
        return new Message(from[0], data);
      }
    } finally {
      leave();
    }
  }

  /**
   * The next message from any client, as {@link #recv}, and on a server whose config has
   * {@link ServerConfig#setEvents} on, also when a client joined (before any of its
   * messages) and when it left (after the last of them), each client's in order.
   */
  public Event recvEvent(int timeoutMs) {
    long[] kind = new long[1];
    long[] from = new long[1];
    long[] len = new long[1];
    enter("Server.recvEvent");
    try {
      ByteBuffer b = Buffers.scratch(0, "Server.recvEvent");
      for (; ; ) {
        len[0] = b.capacity();
        int rc = smipc.server_recv_event(h, kind, from, b, len, timeoutMs);
        if (rc == Status.ETOOSMALL) { // still queued: again, with room for it
          b = Buffers.scratch(len[0], "Server.recvEvent");
          continue;
        }
        SmipcException.check(rc, "Server.recvEvent");
        byte[] data = new byte[(int) len[0]];
        b.get(0, data);
        return new Event(Event.Kind.of((int) kind[0]), from[0], data);
      }
    } finally {
      leave();
    }
  }

  /**
   * Receives the next message into {@code buf} (a direct buffer) from its position, with
   * no copy in between, and advances the position past it. Returns the sender's id. If
   * the message does not fit, throws ETOOSMALL with {@link SmipcException#needed()} and
   * the message stays queued.
   */
  public long recvInto(ByteBuffer buf, int timeoutMs) {
    ByteBuffer at = Buffers.into(buf);
    long[] from = new long[1];
    long[] len = {at.remaining()};
    enter("Server.recvInto");
    try {
      Buffers.checkInto(smipc.server_recv(h, from, at, len, timeoutMs), len, at, "Server.recvInto");
    } finally {
      leave();
    }
    buf.position(buf.position() + (int) len[0]);
    return from[0];
  }

  /**
   * Zero-copy receiving: the next message from any client, read-only and in place (a copy
   * of its own when it was not in one piece in shared memory), its checksum verified;
   * {@link View#client()} sent it. Release it (try-with-resources) for the client to reuse
   * the memory: until then other receives on this server wait. What the view shows stays
   * mapped while its buffers are reachable (the server pins it), through the client's
   * departure and this server's close alike.
   */
  public View recvView(int timeoutMs) {
    long[] from = new long[1];
    long[] flags = new long[1];
    long[] pin = new long[1];
    long[] status = new long[1];
    enter("Server.recvView");
    try {
      ByteBuffer buf = smipc.server_recv_view_span(h, from, flags, pin, timeoutMs, status);
      SmipcException.check((int) status[0], "Server.recvView");
      return ZeroCopy.view(this, from[0], buf, flags[0], false, pin[0],
          () -> smipc.server_release(h), smipc::server_unpin_view, "Server.recvView");
    } finally {
      leave();
    }
  }

  /**
   * Zero-copy sending to one client: room for a message of up to {@code n} bytes inside
   * that client's shared memory, to write in place ({@link Loan#buffer()}) and send with
   * {@link Loan#commit(int)}; closing the loan without a commit sends nothing. {@code
   * timeoutMs} bounds the wait for room (ETIMEDOUT); ENOCLIENT: no such client. Larger than
   * {@link ServerConfig#getBulkSize()} (1 MiB by default) throws {@link LoanSizeException}
   * (send it with {@link #send}). One loan per client at a time: until it ends, other sends
   * to that client wait. The lent memory stays mapped while its buffers are reachable (the
   * server pins it), through the commit, the client's departure and this server's close
   * alike, so a buffer touched late never crashes (see {@link Loan}).
   */
  public Loan loan(long client, int n, int timeoutMs) {
    ZeroCopy.checkSize(n, "Server.loan");
    long[] pin = new long[1];
    long[] status = new long[1];
    String what = "Server.loan to client " + client;
    enter("Server.loan");
    try {
      ByteBuffer buf = smipc.server_loan_span(h, client, n, pin, timeoutMs, status);
      int rc = (int) status[0];
      if (rc != Status.OK) throw ZeroCopy.loanError(rc, what, n, timeoutMs, configIn());
      Loan.Ends ends = new Loan.Ends(this) {
        @Override
        int commit(long k) {
          return smipc.server_commit(h, client, k);
        }

        @Override
        int undo() {
          return smipc.server_cancel_loan(h, client);
        }
      };
      return ZeroCopy.loan(ends, buf, pin[0], smipc::server_unpin_view, what);
    } finally {
      leave();
    }
  }

  /** Sends one message to one client (ENOCLIENT: no such client, ECLOSED: it left). */
  public void send(long client, byte[] data, int timeoutMs) {
    enter("Server.send");
    try {
      ByteBuffer b = Buffers.of(data, "Server.send");
      SmipcException.check(smipc.server_send(h, client, b, data.length, timeoutMs),
          "Server.send to client " + client);
    } finally {
      leave();
    }
  }

  /** Sends the remaining bytes of {@code data} (a direct buffer is not copied); on
   * success its position moves to its limit. */
  public void send(long client, ByteBuffer data, int timeoutMs) {
    int n = data.remaining();
    enter("Server.send");
    try {
      SmipcException.check(smipc.server_send(h, client, Buffers.of(data, "Server.send"), n,
          timeoutMs), "Server.send to client " + client);
    } finally {
      leave();
    }
    data.position(data.limit());
  }

  /**
   * Sends to every connected client and returns how many got it. If one could not get it,
   * throws with that status, and {@link SmipcException#delivered()} counts the others.
   */
  public long broadcast(byte[] data, int timeoutMs) {
    long[] delivered = new long[1];
    enter("Server.broadcast");
    try {
      ByteBuffer b = Buffers.of(data, "Server.broadcast");
      int rc = smipc.server_broadcast(h, b, data.length, timeoutMs, delivered);
      if (rc != Status.OK)
        throw new SmipcException(rc, "Server.broadcast (" + delivered[0] + " clients got it)",
            0, delivered[0]);
      return delivered[0];
    } finally {
      leave();
    }
  }

  /**
   * From any thread: every send to {@code client} in progress now gives up with ETIMEDOUT
   * the next time it must wait for room, and the part of its message that went is
   * dropped (the client never sees it). Later sends are not affected.
   */
  public void cancelSends(long client) {
    if (client == 0) // C's 0 means every client: that is cancelSends()
      throw new SmipcException(Status.ENOCLIENT, "Server.cancelSends to client 0");
    cancel(client, "Server.cancelSends to client " + client);
  }

  /**
   * From any thread: every send in progress, to any client, and every broadcast in
   * progress give up with ETIMEDOUT the next time they must wait for room (a broadcast's
   * {@link SmipcException#delivered()} still counts the clients it reached).
   */
  public void cancelSends() {
    cancel(0, "Server.cancelSends");
  }

  private void cancel(long client, String what) {
    enter(what);
    try {
      SmipcException.check(smipc.server_cancel_sends(h, client), what);
    } finally {
      leave();
    }
  }

  /** The ids of the clients connected now. */
  public long[] clients() {
    long[] count = new long[1];
    enter("Server.clients");
    try {
      for (; ; ) {
        long[] ids = new long[(int) count[0] + 8];
        SmipcException.check(smipc.server_clients(h, ids, ids.length, count), "Server.clients");
        if (count[0] <= ids.length) return java.util.Arrays.copyOf(ids, (int) count[0]);
      }
    } finally {
      leave();
    }
  }

  /**
   * A descriptor that poll() reports readable when {@link #recv} would find a message
   * (it may wake spuriously). The library owns it: never read or close it.
   */
  public int fd() {
    enter("Server.fd");
    try {
      int fd = smipc.server_fd(h);
      if (fd < 0) SmipcException.check(fd, "Server.fd");
      return fd;
    } finally {
      leave();
    }
  }

  /** The limits this server gives its connections (defaults filled in). */
  public ServerConfig config() {
    enter("Server.config");
    try {
      return configIn();
    } finally {
      leave();
    }
  }

  /** The limits, inside a call (entered). */
  private ServerConfig configIn() {
    ServerConfig cfg = new ServerConfig();
    SmipcException.check(smipc.server_config_of(h, cfg), "Server.config");
    return cfg;
  }

  @Override
  void shutdownNative() {
    smipc.server_shutdown(h);
  }

  @Override
  void closeNative() {
    smipc.server_close(h);
  }
}
