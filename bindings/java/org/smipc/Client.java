package org.smipc;

import java.nio.ByteBuffer;

/**
 * A connection to an smipc server. Thread-safe: several threads may send and receive at
 * once; a blocking call never stops other threads. Close it (try-with-resources).
 * Timeouts are milliseconds: {@code < 0} waits for ever, {@code 0} never blocks. A
 * harness that starts its server in another process connects with {@link #connectWait}.
 */
public final class Client extends Handle {
  private final SWIGTYPE_p_smipc_client h;
  private final long id;

  /**
   * Connects to the server of {@code name}: ENOTFOUND at once when no live server has it;
   * {@code timeoutMs} bounds the handshake with a live one. {@link #connectWait} waits
   * for a server to come up instead.
   */
  public Client(String name, int timeoutMs) {
    this(connect(name, timeoutMs, false));
  }

  /**
   * Connects to the server of {@code name}, first waiting for a live server to own the
   * name, as a harness does that starts its server in another process: ETIMEDOUT if none
   * came up within {@code timeoutMs} (which also bounds the handshake; {@code < 0} waits
   * for ever). It watches the runtime directory, it does not poll.
   */
  public static Client connectWait(String name, int timeoutMs) {
    return new Client(connect(name, timeoutMs, true));
  }

  private Client(SWIGTYPE_p_smipc_client h) {
    super("client");
    this.h = h;
    id = smipc.client_id_of(h);
  }

  private static SWIGTYPE_p_smipc_client connect(String name, int timeoutMs, boolean wait) {
    long[] status = new long[1];
    SWIGTYPE_p_smipc_client h = wait ? smipc.client_connect_wait_handle(name, timeoutMs, status)
        : smipc.client_connect_handle(name, timeoutMs, status);
    Names.check((int) status[0], (wait ? "Client.connectWait(\"" : "Client(\"") + name + "\")",
        name, wait ? Integer.valueOf(timeoutMs) : null);
    return h;
  }

  /** The id the server sees for this client ({@link Message#client()}). */
  public long id() {
    return id;
  }

  /** Sends one message to the server. */
  public void send(byte[] data, int timeoutMs) {
    enter("Client.send");
    try {
      ByteBuffer b = Buffers.of(data, "Client.send");
      SmipcException.check(smipc.client_send(h, b, data.length, timeoutMs), "Client.send");
    } finally {
      leave();
    }
  }

  /** Sends the remaining bytes of {@code data} (a direct buffer is not copied); on
   * success its position moves to its limit. */
  public void send(ByteBuffer data, int timeoutMs) {
    int n = data.remaining();
    enter("Client.send");
    try {
      SmipcException.check(smipc.client_send(h, Buffers.of(data, "Client.send"), n, timeoutMs),
          "Client.send");
    } finally {
      leave();
    }
    data.position(data.limit());
  }

  /** The next whole message from the server ({@link #recvMessage} also says whether it
   * was a broadcast). */
  public byte[] recv(int timeoutMs) {
    long[] len = new long[1];
    enter("Client.recv");
    try {
      ByteBuffer b = Buffers.scratch(0, "Client.recv");
      for (; ; ) {
        len[0] = b.capacity();
        int rc = smipc.client_recv(h, b, len, timeoutMs);
        if (rc == Status.ETOOSMALL) { // still queued: again, with room for it
          b = Buffers.scratch(len[0], "Client.recv");
          continue;
        }
        SmipcException.check(rc, "Client.recv");
        byte[] data = new byte[(int) len[0]];
        b.get(0, data);
        return data;
      }
    } finally {
      leave();
    }
  }

  /**
   * The next whole message from the server, and whether it was a broadcast ({@link
   * Server#broadcast}) or sent to this client alone ({@link Server#send}).
   */
  public Received recvMessage(int timeoutMs) {
    long[] len = new long[1];
    long[] flags = new long[1];
    enter("Client.recvMessage");
    try {
      ByteBuffer b = Buffers.scratch(0, "Client.recvMessage");
      for (; ; ) {
        len[0] = b.capacity();
        int rc = smipc.client_recv_flags(h, flags, b, len, timeoutMs);
        if (rc == Status.ETOOSMALL) { // still queued: again, with room for it
          b = Buffers.scratch(len[0], "Client.recvMessage");
          continue;
        }
        SmipcException.check(rc, "Client.recvMessage");
        byte[] data = new byte[(int) len[0]];
        b.get(0, data);
        return new Received(data, (flags[0] & MessageFlag.MSG_BROADCAST) != 0);
      }
    } finally {
      leave();
    }
  }

  /**
   * From any thread: every send on this client in progress now gives up with ETIMEDOUT
   * the next time it must wait for room, and the part of its message that went is
   * dropped (the server never sees it). Sends that begin afterwards are not affected.
   */
  public void cancelSends() {
    enter("Client.cancelSends");
    try {
      smipc.client_cancel_sends(h);
    } finally {
      leave();
    }
  }

  /**
   * Receives the next message into {@code buf} (a direct buffer) from its position, with
   * no copy in between, advances the position past it and returns its length. If it does
   * not fit, throws ETOOSMALL with {@link SmipcException#needed()} and it stays queued.
   */
  public int recvInto(ByteBuffer buf, int timeoutMs) {
    ByteBuffer at = Buffers.into(buf);
    long[] len = {at.remaining()};
    enter("Client.recvInto");
    try {
      Buffers.checkInto(smipc.client_recv(h, at, len, timeoutMs), len, at, "Client.recvInto");
    } finally {
      leave();
    }
    buf.position(buf.position() + (int) len[0]);
    return (int) len[0];
  }

  /**
   * Receives the next message into {@code buf} as {@link #recvInto} does, and also says
   * whether the server broadcast it or sent it to this client alone.
   */
  public ReceivedInto recvMessageInto(ByteBuffer buf, int timeoutMs) {
    ByteBuffer at = Buffers.into(buf);
    long[] len = {at.remaining()};
    long[] flags = new long[1];
    enter("Client.recvMessageInto");
    try {
      Buffers.checkInto(smipc.client_recv_flags(h, flags, at, len, timeoutMs), len, at,
          "Client.recvMessageInto");
    } finally {
      leave();
    }
    buf.position(buf.position() + (int) len[0]);
    return new ReceivedInto((int) len[0], (flags[0] & MessageFlag.MSG_BROADCAST) != 0);
  }

  /**
   * Zero-copy sending: room for a message of up to {@code n} bytes inside the shared
   * memory, to write in place ({@link Loan#buffer()}) and send with {@link Loan#commit(int)};
   * closing the loan without a commit sends nothing. {@code timeoutMs} bounds the wait for
   * room (ETIMEDOUT). A loan is one packet or one chunk of the bulk area: larger than the
   * connection's {@link ServerConfig#getBulkSize()} (1 MiB by default) throws {@link
   * LoanSizeException} (send it with {@link #send}). Until the loan ends, other sends on
   * this client wait.
   */
  public Loan loan(int n, int timeoutMs) {
    ZeroCopy.checkSize(n, "Client.loan");
    long[] pin = new long[1];
    long[] status = new long[1];
    enter("Client.loan");
    try {
      ByteBuffer buf = smipc.client_loan_span(h, n, pin, timeoutMs, status);
      int rc = (int) status[0];
      if (rc != Status.OK) throw ZeroCopy.loanError(rc, "Client.loan", n, timeoutMs, configIn());
      Loan.Ends ends = new Loan.Ends(this) {
        @Override
        int commit(long k) {
          return smipc.client_commit(h, k);
        }

        @Override
        int undo() {
          return smipc.client_cancel_loan(h);
        }
      };
      return ZeroCopy.loan(ends, buf, pin[0], smipc::client_unpin_view, "Client.loan");
    } finally {
      leave();
    }
  }

  /**
   * Zero-copy receiving: the next message from the server, read-only and in place (a copy
   * of its own when it was not in one piece in shared memory), its checksum verified.
   * Release it (try-with-resources) for the server to reuse the memory: until then other
   * receives on this client wait. {@link View#broadcast()} tells a broadcast from a message
   * sent to this client alone.
   */
  public View recvView(int timeoutMs) {
    long[] flags = new long[1];
    long[] pin = new long[1];
    long[] status = new long[1];
    enter("Client.recvView");
    try {
      ByteBuffer buf = smipc.client_recv_view_span(h, flags, pin, timeoutMs, status);
      SmipcException.check((int) status[0], "Client.recvView");
      boolean broadcast = (flags[0] & MessageFlag.MSG_BROADCAST) != 0;
      return ZeroCopy.view(this, id, buf, flags[0], broadcast, pin[0],
          () -> smipc.client_release(h), smipc::client_unpin_view, "Client.recvView");
    } finally {
      leave();
    }
  }

  /** The connection's limits, inside a call (entered). */
  private ServerConfig configIn() {
    ServerConfig cfg = new ServerConfig();
    SmipcException.check(smipc.client_config_of(h, cfg), "Client.config");
    return cfg;
  }

  /**
   * A descriptor that poll() reports readable when {@link #recv} would find a message or
   * the server is gone (it may wake spuriously). The library owns it: never read or close it.
   */
  public int fd() {
    enter("Client.fd");
    try {
      int fd = smipc.client_fd(h);
      if (fd < 0) SmipcException.check(fd, "Client.fd");
      return fd;
    } finally {
      leave();
    }
  }

  /** The connection's limits as the server set them. */
  public ServerConfig config() {
    enter("Client.config");
    try {
      return configIn();
    } finally {
      leave();
    }
  }

  @Override
  void shutdownNative() {
    smipc.client_shutdown(h);
  }

  @Override
  void closeNative() {
    smipc.client_close(h);
  }
}
