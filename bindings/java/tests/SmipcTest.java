import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.smipc.*;

/** The Java binding's unit tests: a plain main, one method per behaviour, exit 1 on any
 * failure. Servers and clients share this process; the interop matrix
 * (tests/python/test_matrix.py) runs them as separate processes. */
public class SmipcTest {
  static final int WAIT = 20000; // ms; generous, the machine may be loaded
  static final String BASE = "java-" + ProcessHandle.current().pid() + "-";

  interface Body {
    void run() throws Exception;
  }

  static void check(boolean ok, String what) {
    if (!ok) throw new AssertionError(what);
  }

  /** f must throw SmipcException with this status; returns it. */
  static SmipcException fails(int status, Body f) throws Exception {
    try {
      f.run();
    } catch (SmipcException e) {
      check(e.status() == status, "status " + e.status() + " (" + e.getMessage() + "), wanted " + status);
      check(e.getMessage().contains(Smipc.strerror(status)), "message without the words: " + e.getMessage());
      return e;
    }
    throw new AssertionError("no exception, wanted status " + status);
  }

  static byte[] payload(int size, int seed) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) b[i] = (byte) (seed * 31 + i * 7 + i / 251);
    return b;
  }

  /** A thread that echoes count messages. */
  static Thread echo(Server srv, int count) {
    Thread t = new Thread(() -> {
      for (int i = 0; i < count; i++) {
        Message m = srv.recv(WAIT);
        srv.send(m.client(), m.data(), WAIT);
      }
    });
    t.start();
    return t;
  }

  static void echoEverySize(String name) throws Exception {
    int[] sizes = {0, 1, 4095, 4096, 4097, 100000, 3 << 20};
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      Thread t = echo(srv, sizes.length);
      for (int i = 0; i < sizes.length; i++) {
        byte[] data = payload(sizes[i], i);
        cli.send(data, WAIT);
        check(Arrays.equals(cli.recv(WAIT), data), sizes[i] + " bytes came back different");
      }
      t.join();
    }
  }

  static void clientsAndBroadcast(String name) throws Exception {
    try (Server srv = new Server(name); Client a = new Client(name, WAIT);
        Client b = new Client(name, WAIT)) {
      check(a.id() != b.id(), "two clients, one id");
      long[] ids = srv.clients();
      Arrays.sort(ids);
      long[] want = {Math.min(a.id(), b.id()), Math.max(a.id(), b.id())};
      check(Arrays.equals(ids, want), "clients " + Arrays.toString(ids));
      b.send("from b".getBytes(), WAIT);
      Message m = srv.recv(WAIT);
      check(m.client() == b.id() && new String(m.data()).equals("from b"), "message " + m);
      check(srv.broadcast("all".getBytes(), WAIT) == 2, "broadcast count");
      check(new String(a.recv(WAIT)).equals("all") && new String(b.recv(WAIT)).equals("all"), "broadcast");
    }
  }

  static void noServer(String name) throws Exception {
    fails(Status.ENOTFOUND, () -> new Client(name, WAIT));
  }

  static void timeout(String name) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      fails(Status.ETIMEDOUT, () -> srv.recv(0));
      long start = System.nanoTime();
      fails(Status.ETIMEDOUT, () -> cli.recv(50));
      check(System.nanoTime() - start >= 50_000_000L, "gave up before its timeout");
    }
  }

  static void nameAlreadyServed(String name) throws Exception {
    try (Server srv = new Server(name)) {
      fails(Status.EEXIST, () -> new Server(name));
    }
    fails(Status.EINVAL, () -> new Server("no spaces allowed"));
    new Server(name).close(); // free again once closed
  }

  static void messageTooLarge(String name) throws Exception {
    ServerConfig cfg = new ServerConfig();
    cfg.setMaxMessageSize(1000);
    cfg.setPacketSize(256);
    try (Server srv = new Server(name, cfg); Client cli = new Client(name, WAIT)) {
      fails(Status.EMSGSIZE, () -> cli.send(new byte[1001], WAIT));
      check(cli.config().getMaxMessageSize() == 1000 && cli.config().getPacketSize() == 256,
          "the client's limits");
      cli.send(new byte[1000], WAIT);
      check(srv.recv(WAIT).data().length == 1000, "the 1000 bytes");
    }
  }

  static void bufferTooSmallKeepsTheMessage(String name) throws Exception {
    byte[] data = payload(5000, 3);
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      cli.send(data, WAIT);
      ByteBuffer small = ByteBuffer.allocateDirect(4999);
      SmipcException e = fails(Status.ETOOSMALL, () -> srv.recvInto(small, WAIT));
      check(e.needed() == 5000, "needed " + e.needed());
      ByteBuffer room = ByteBuffer.allocateDirect(6000);
      room.position(7); // received from the position on
      long from = srv.recvInto(room, WAIT);
      check(from == cli.id() && room.position() == 5007, "recvInto: from " + from + " at " + room.position());
      byte[] got = new byte[5000];
      room.get(7, got);
      check(Arrays.equals(got, data), "the message after ETOOSMALL");
      room.position(7).limit(5007);
      srv.send(from, room, WAIT); // a direct buffer's remaining bytes, not copied
      check(room.position() == 5007, "send moves the position");
      fails(Status.ETOOSMALL, () -> cli.recvInto(small, WAIT));
      ByteBuffer mine = ByteBuffer.allocateDirect(5000);
      check(cli.recvInto(mine, WAIT) == 5000, "client recvInto length");
      mine.flip();
      byte[] back = new byte[5000];
      mine.get(back);
      check(Arrays.equals(back, data), "client, the message after ETOOSMALL");
      boolean refused = false;
      try {
        cli.recvInto(ByteBuffer.allocate(10), 0);
      } catch (IllegalArgumentException x) {
        refused = true;
      }
      check(refused, "a heap buffer for recvInto");
    }
  }

  static void useAfterClose(String name) throws Exception {
    Server srv = new Server(name);
    Client cli = new Client(name, WAIT);
    cli.close();
    fails(Status.ECLOSED, () -> cli.send(new byte[1], WAIT));
    fails(Status.ECLOSED, () -> cli.recv(0));
    cli.close(); // twice is fine
    srv.close();
    fails(Status.ECLOSED, () -> srv.recv(0));
    fails(Status.ECLOSED, () -> srv.clients());
    check(srv.isClosed() && cli.isClosed(), "isClosed");
  }

  /** close() while other threads are blocked on the same handle: they end with ECLOSED;
   * meanwhile, a round trip on another connection goes on. */
  static void closeWhileBlocked(String name) throws Exception {
    try (Server srv = new Server(name); Server idle = new Server(name + "-idle");
        Client cli = new Client(name, WAIT); Client other = new Client(name, WAIT)) {
      LinkedBlockingQueue<Object> ends = new LinkedBlockingQueue<>();
      CountDownLatch started = new CountDownLatch(4);
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        threads.add(new Thread(() -> {
          started.countDown();
          try {
            idle.recv(-1);
            ends.add("returned");
          } catch (SmipcException e) {
            ends.add(e);
          }
        }));
        threads.add(new Thread(() -> {
          started.countDown();
          try {
            cli.recv(-1);
            ends.add("returned");
          } catch (SmipcException e) {
            ends.add(e);
          }
        }));
      }
      threads.forEach(Thread::start);
      started.await();
      Thread t = echo(srv, 1);
      other.send("ping".getBytes(), WAIT);
      check(new String(other.recv(WAIT)).equals("ping"), "round trip while others block");
      t.join();
      check(ends.isEmpty(), "a blocked call returned before close: " + ends.peek());
      Thread closer = new Thread(() -> {
        cli.close();
        idle.close();
      });
      closer.start();
      closer.join(WAIT);
      check(!closer.isAlive(), "close() did not return while calls were blocked");
      for (int i = 0; i < 4; i++) {
        Object end = ends.poll(WAIT, TimeUnit.MILLISECONDS);
        check(end instanceof SmipcException && ((SmipcException) end).status() == Status.ECLOSED,
            "a blocked call ended with " + end);
      }
      for (Thread th : threads) th.join();
    }
  }

  static void config(String name) throws Exception {
    ServerConfig def = new ServerConfig();
    check(def.getMaxClients() == 64 && def.getPacketSize() == 4096 && def.getRingPackets() == 64
        && def.getMaxMessageSize() == 64L << 20 && def.getFlags() == 0, "defaults");
    ServerConfig cfg = new ServerConfig().setChecksum(false);
    cfg.setMaxClients(1);
    try (Server srv = new Server(name, cfg); Client cli = new Client(name, WAIT)) {
      check(srv.config().getMaxClients() == 1
          && (srv.config().getFlags() & ServerFlag.NO_CHECKSUM) != 0, "server's config");
      fails(Status.EFULL, () -> new Client(name, WAIT));
      check(srv.fd() >= 0 && cli.fd() >= 0, "descriptors");
      check(Smipc.version().matches("\\d+\\.\\d+\\.\\d+"), "version " + Smipc.version());
    }
    cfg.delete();
    cfg.delete(); // twice is fine
  }

  /** Whether t is in the JNI call named method now. */
  static boolean inNative(Thread t, String method) {
    StackTraceElement[] st = t.getStackTrace();
    return st.length > 0 && st[0].isNativeMethod() && st[0].getMethodName().equals(method);
  }

  /** connectWait started before the server: it gets through once the server is up. */
  static void connectWaitForTheServer(String name) throws Exception {
    fails(Status.ENOTFOUND, () -> new Client(name, WAIT)); // nobody there yet
    LinkedBlockingQueue<Object> got = new LinkedBlockingQueue<>();
    CountDownLatch waiting = new CountDownLatch(1);
    Thread t = new Thread(() -> {
      waiting.countDown();
      try {
        got.add(Client.connectWait(name, WAIT));
      } catch (RuntimeException e) {
        got.add(e);
      }
    });
    t.start();
    waiting.await();
    // the server comes up only once the thread is inside the C call (or done: a bug)
    long deadline = System.nanoTime() + WAIT * 1_000_000L;
    while (got.isEmpty() && !inNative(t, "client_connect_wait_handle")) {
      check(System.nanoTime() < deadline, "the thread never got to connectWait's C call");
      Thread.onSpinWait();
    }
    try (Server srv = new Server(name)) {
      Object end = got.poll(WAIT, TimeUnit.MILLISECONDS);
      check(end instanceof Client, "connectWait ended with " + end);
      try (Client cli = (Client) end) {
        cli.send("up".getBytes(), WAIT);
        Message m = srv.recv(WAIT);
        check(m.client() == cli.id() && new String(m.data()).equals("up"), "message " + m);
      }
    }
    t.join();
  }

  static void connectWaitTimesOut(String name) throws Exception {
    SmipcException e = fails(Status.ETIMEDOUT, () -> Client.connectWait(name, 100));
    check(e.getMessage().contains("no server came up at " + Smipc.namePath(name)),
        "the timeout does not say where it looked: " + e.getMessage());
  }

  static void joinsAndDepartures(String name) throws Exception {
    try (Server srv = new Server(name, new ServerConfig().setEvents(true))) {
      check((srv.config().getFlags() & ServerFlag.EVENTS) != 0, "EVENTS flag");
      long id;
      try (Client cli = new Client(name, WAIT)) {
        id = cli.id();
        cli.send("hello".getBytes(), WAIT);
        cli.send(payload(100000, 5), WAIT); // larger than the scratch buffer's first size
      }
      Event e = srv.recvEvent(WAIT);
      check(e.kind() == Event.Kind.JOINED && e.client() == id && e.data().length == 0, "first " + e);
      e = srv.recvEvent(WAIT);
      check(e.kind() == Event.Kind.MESSAGE && e.client() == id
          && new String(e.data()).equals("hello"), "second " + e);
      e = srv.recvEvent(WAIT);
      check(e.kind() == Event.Kind.MESSAGE && Arrays.equals(e.data(), payload(100000, 5)), "third " + e);
      e = srv.recvEvent(WAIT);
      check(e.kind() == Event.Kind.LEFT && e.client() == id && e.data().length == 0, "fourth " + e);
      fails(Status.ETIMEDOUT, () -> srv.recvEvent(0));
      // plain recv on such a server passes joins and departures over
      try (Client cli = new Client(name, WAIT)) {
        cli.send("plain".getBytes(), WAIT);
        Message m = srv.recv(WAIT);
        check(m.client() == cli.id() && new String(m.data()).equals("plain"), "recv " + m);
      }
    }
    // off by default: only messages
    try (Server srv = new Server(name)) {
      try (Client cli = new Client(name, WAIT)) {
        cli.send("x".getBytes(), WAIT);
      }
      Event e = srv.recvEvent(WAIT);
      check(e.kind() == Event.Kind.MESSAGE && new String(e.data()).equals("x"), "without EVENTS " + e);
      fails(Status.ETIMEDOUT, () -> srv.recvEvent(0));
    }
  }

  static void broadcastOrReply(String name) throws Exception {
    try (Server srv = new Server(name); Client a = new Client(name, WAIT);
        Client b = new Client(name, WAIT)) {
      byte[] big = payload(1 << 20, 9);
      srv.send(a.id(), "to a".getBytes(), WAIT);
      Thread t = new Thread(() -> srv.broadcast(big, WAIT)); // 1 MiB: more than a ring holds
      t.start();
      Received r = a.recvMessage(WAIT);
      check(!r.broadcast() && new String(r.data()).equals("to a"), "the reply " + r);
      r = a.recvMessage(WAIT);
      check(r.broadcast() && Arrays.equals(r.data(), big), "a's broadcast: " + r.broadcast());
      r = b.recvMessage(WAIT);
      check(r.broadcast() && Arrays.equals(r.data(), big), "b's broadcast: " + r.broadcast());
      t.join();
      srv.send(b.id(), new byte[0], WAIT);
      r = b.recvMessage(WAIT);
      check(!r.broadcast() && r.data().length == 0, "an empty reply " + r);
      fails(Status.ETIMEDOUT, () -> a.recvMessage(0));
    }
  }

  /** A call that runs in another thread: its exception, or null when it returned. */
  static LinkedBlockingQueue<Object> inThread(Body f) {
    LinkedBlockingQueue<Object> end = new LinkedBlockingQueue<>();
    new Thread(() -> {
      try {
        f.run();
        end.add("returned");
      } catch (Exception e) {
        end.add(e);
      }
    }).start();
    return end;
  }

  /** Cancels (again, as a send that had not started waiting is not cancelled) until the
   * call in another thread ends; returns how it ended. */
  static Object cancelUntilEnd(LinkedBlockingQueue<Object> end, Runnable cancel) throws Exception {
    long deadline = System.nanoTime() + WAIT * 1_000_000L;
    for (; ; ) {
      cancel.run();
      Object e = end.poll(10, TimeUnit.MILLISECONDS);
      if (e != null) return e;
      check(System.nanoTime() < deadline, "the cancelled call did not end");
    }
  }

  static void cancelSends(String name) throws Exception {
    byte[] huge = payload(16 << 20, 1); // far more than the rings and bulk area hold
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT);
        Client quiet = new Client(name, WAIT)) {
      Object end = cancelUntilEnd(inThread(() -> cli.send(huge, -1)), cli::cancelSends);
      check(end instanceof SmipcException && ((SmipcException) end).status() == Status.ETIMEDOUT,
          "the client's cancelled send ended with " + end);
      // what went of the cancelled one is dropped; it fills the ring until the server reads
      LinkedBlockingQueue<Object> sent = inThread(() -> cli.send("next".getBytes(), WAIT));
      Message m = srv.recv(WAIT);
      check(new String(m.data()).equals("next"), "after the cancelled send: " + m.data().length + " bytes");
      check("returned".equals(sent.poll(WAIT, TimeUnit.MILLISECONDS)), "the send after the cancelled one");

      end = cancelUntilEnd(inThread(() -> srv.send(quiet.id(), huge, -1)),
          () -> srv.cancelSends(quiet.id()));
      check(end instanceof SmipcException && ((SmipcException) end).status() == Status.ETIMEDOUT,
          "the server's cancelled send ended with " + end);
      end = cancelUntilEnd(inThread(() -> srv.broadcast(huge, -1)), srv::cancelSends);
      check(end instanceof SmipcException && ((SmipcException) end).status() == Status.ETIMEDOUT,
          "the cancelled broadcast ended with " + end);
      sent = inThread(() -> srv.send(quiet.id(), "next".getBytes(), WAIT));
      check(new String(quiet.recv(WAIT)).equals("next"), "the client after cancelled sends");
      check("returned".equals(sent.poll(WAIT, TimeUnit.MILLISECONDS)), "the send after the cancelled ones");
      fails(Status.ENOCLIENT, () -> srv.cancelSends(0));
      cli.close();
      fails(Status.ECLOSED, cli::cancelSends);
    }
  }

  static void errorsSayWhere(String name) throws Exception {
    String path = Smipc.namePath(name);
    check(path.endsWith("/" + name), "namePath " + path);
    check(Smipc.namePath("/tmp/x.sock").equals("/tmp/x.sock"), "a path is used as given");
    SmipcException e = fails(Status.ENOTFOUND, () -> new Client(name, WAIT));
    check(e.getMessage().contains(path) && e.getMessage().contains("SMIPC_DIR"),
        "ENOTFOUND does not say where it looked: " + e.getMessage());
    e = fails(Status.EINVAL, () -> new Server("no spaces allowed"));
    check(e.getMessage().contains("letters, digits"), "a bad name without the rule: " + e.getMessage());
    e = fails(Status.EINVAL, () -> new Client("", WAIT));
    check(e.getMessage().contains("letters, digits"), "an empty name without the rule: " + e.getMessage());
    e = fails(Status.EINVAL, () -> Smipc.namePath("no spaces allowed"));
    check(e.getMessage().contains("letters, digits"), "namePath without the rule: " + e.getMessage());
    ServerConfig cfg = new ServerConfig();
    cfg.setPacketSize(10);
    e = fails(Status.EINVAL, () -> new Server(name, cfg));
    check(e.getMessage().contains("ServerConfig"), "a bad config does not say so: " + e.getMessage());
    try (Server srv = new Server(name)) {
      e = fails(Status.EEXIST, () -> new Server(name));
      check(e.getMessage().contains(path), "EEXIST without the path: " + e.getMessage());
    }
  }

  /** Fills a loan with data and sends it. */
  static void sendByLoan(Loan loan, byte[] data) {
    ByteBuffer buf = loan.buffer();
    check(buf.isDirect() && !buf.isReadOnly() && buf.capacity() >= data.length, "the loan's buffer");
    buf.put(0, data);
    loan.commit(data.length);
  }

  static byte[] bytesOf(View v) {
    ByteBuffer b = v.data();
    check(b.isDirect() && b.isReadOnly() && b.position() == 0 && b.remaining() == v.length(),
        "the view's buffer");
    byte[] got = new byte[b.remaining()];
    b.get(got);
    return got;
  }

  /** A loan's bytes arrive intact, through the ring (one packet) and the bulk area. */
  static void loansArriveIntact(String name) throws Exception {
    int[] sizes = {0, 1, 4095, 4096, 4097, 100000, 1 << 20};
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      for (int i = 0; i < sizes.length; i++) {
        byte[] data = payload(sizes[i], i);
        try (Loan loan = cli.loan(sizes[i], WAIT)) {
          check(loan.size() == sizes[i], "loan size " + loan.size());
          sendByLoan(loan, data);
          check(loan.isDone(), "committed, not done");
        }
        Message m = srv.recv(WAIT);
        check(m.client() == cli.id() && Arrays.equals(m.data(), data),
            sizes[i] + " bytes by loan came different");
        try (Loan loan = srv.loan(cli.id(), sizes[i], WAIT)) { // and the server's way
          sendByLoan(loan, data);
        }
        Received r = cli.recvMessage(WAIT);
        check(!r.broadcast() && Arrays.equals(r.data(), data), sizes[i] + " bytes by the server's loan");
      }
      try (Loan loan = cli.loan(100, WAIT)) { // commit sends the first n bytes
        loan.buffer().put(0, payload(100, 7));
        boolean refused = false;
        try {
          loan.commit(101);
        } catch (IllegalArgumentException e) {
          refused = true;
        }
        check(refused && !loan.isDone(), "commit of more than the loan");
        loan.commit(10);
      }
      check(Arrays.equals(srv.recv(WAIT).data(), Arrays.copyOf(payload(100, 7), 10)), "first 10 bytes");
      fails(Status.ENOCLIENT, () -> srv.loan(cli.id() + 1000, 10, WAIT));
    }
  }

  /** A view shows exactly the bytes sent and who sent them; a client's says broadcast. */
  static void viewsShowTheMessage(String name) throws Exception {
    int[] sizes = {0, 10, 4096, 5000, 100000, 1 << 20, 3 << 20};
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT);
        Client other = new Client(name, WAIT)) {
      for (int i = 0; i < sizes.length; i++) {
        byte[] data = payload(sizes[i], i);
        cli.send(data, WAIT);
        try (View v = srv.recvView(WAIT)) {
          check(v.client() == cli.id() && v.length() == sizes[i], "view of " + sizes[i] + " from " + v.client());
          check(Arrays.equals(bytesOf(v), data), sizes[i] + " bytes in a view came different");
          // in place: one packet, or one chunk of the bulk area (more than 4 packets)
          boolean inPlace = sizes[i] <= 4096 || (sizes[i] > 4 * 4096 && sizes[i] <= 1 << 20);
          check(v.copied() == !inPlace, sizes[i] + " bytes copied: " + v.copied());
        }
        srv.send(cli.id(), data, WAIT);
        try (View v = cli.recvView(WAIT)) {
          check(v.client() == cli.id() && !v.broadcast(), "a client's view of a reply");
          check(Arrays.equals(bytesOf(v), data), sizes[i] + " bytes in a client's view");
        }
      }
      check(srv.broadcast("all".getBytes(), WAIT) == 2, "broadcast");
      for (Client c : new Client[] {cli, other}) {
        try (View v = c.recvView(WAIT)) {
          check(v.broadcast() && v.client() == c.id() && new String(bytesOf(v)).equals("all"),
              "a client's view of a broadcast");
        }
      }
      fails(Status.ETIMEDOUT, () -> srv.recvView(0));
      fails(Status.ETIMEDOUT, () -> cli.recvView(0));
      // released: the next receive goes on (a view not released would hold it up)
      cli.send("next".getBytes(), WAIT);
      check(new String(srv.recv(WAIT).data()).equals("next"), "a receive after the views");
    }
  }

  /** Beyond bulk_size: LoanSizeException, ELOANSIZE, saying the limit and what to do. */
  static void loanTooLarge(String name) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      long bulk = cli.config().getBulkSize();
      check(bulk == 1 << 20, "default bulk size " + bulk);
      SmipcException e = fails(Status.ELOANSIZE, () -> cli.loan((int) bulk + 1, WAIT));
      check(e instanceof LoanSizeException && ((LoanSizeException) e).limit() == bulk,
          "not a LoanSizeException with the limit: " + e);
      check(e.getMessage().contains(Long.toString(bulk)) && e.getMessage().contains("send()")
          && e.getMessage().contains("setBulkSize"), "the message: " + e.getMessage());
      e = fails(Status.ELOANSIZE, () -> srv.loan(cli.id(), (int) bulk + 1, WAIT));
      check(((LoanSizeException) e).limit() == bulk, "the server's limit");
      cli.send("still fine".getBytes(), WAIT); // nothing was held
      check(new String(srv.recv(WAIT).data()).equals("still fine"), "after ELOANSIZE");
    }
    ServerConfig small = new ServerConfig();
    small.setBulkSize(64 << 10);
    try (Server srv = new Server(name, small); Client cli = new Client(name, WAIT)) {
      SmipcException e = fails(Status.ELOANSIZE, () -> cli.loan((64 << 10) + 1, WAIT));
      check(((LoanSizeException) e).limit() == 64 << 10 && e.getMessage().contains("65536"),
          "a 64 KiB bulk size: " + e.getMessage());
      try (Loan loan = cli.loan(64 << 10, WAIT)) {
        sendByLoan(loan, payload(64 << 10, 2));
      }
      check(Arrays.equals(srv.recv(WAIT).data(), payload(64 << 10, 2)), "a loan of bulk_size");
    }
  }

  /** A cancelled loan (or one closed without a commit) sends nothing. */
  static void cancelSendsNothing(String name) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      try (Loan loan = cli.loan(100, WAIT)) {
        loan.buffer().put(0, payload(100, 1));
      } // closed without a commit
      Loan loan = cli.loan(200000, WAIT);
      loan.buffer().put(0, payload(200000, 2));
      loan.cancel();
      loan.cancel(); // twice is fine
      check(loan.isDone(), "cancelled, not done");
      boolean threw = false;
      try {
        loan.buffer();
      } catch (IllegalStateException e) {
        threw = true;
      }
      check(threw, "buffer() after cancel");
      threw = false;
      try {
        loan.commit(1);
      } catch (IllegalStateException e) {
        threw = true;
      }
      check(threw, "commit after cancel");
      try (Loan l = srv.loan(cli.id(), 50, WAIT)) {
        l.buffer().put(0, payload(50, 3));
        l.cancel();
      }
      fails(Status.ETIMEDOUT, () -> srv.recv(0));
      fails(Status.ETIMEDOUT, () -> cli.recv(0));
      cli.send("after".getBytes(), WAIT);
      check(new String(srv.recv(WAIT).data()).equals("after"), "the message after cancelled loans");
      fails(Status.ETIMEDOUT, () -> srv.recv(0));
    }
  }

  /** After release or close, the wrapper throws, and its raw buffers are still readable. */
  static void buffersOutliveTheirViews(String name) throws Exception {
    byte[] data = payload(100000, 4);
    Server srv = new Server(name);
    Client cli = new Client(name, WAIT);
    cli.send(data, WAIT);
    View sv = srv.recvView(WAIT);
    ByteBuffer kept = sv.data();
    ByteBuffer slice = kept.slice(10, 100);
    sv.release();
    sv.release(); // twice is fine
    boolean threw = false;
    try {
      sv.data();
    } catch (IllegalStateException e) {
      threw = true;
    }
    check(threw && sv.isReleased() && sv.client() == cli.id(), "data() after release");
    srv.send(cli.id(), data, WAIT);
    View cv = cli.recvView(WAIT);
    ByteBuffer ckept = cv.data();
    // close with a view out: it ends, the memory stays
    cli.close();
    srv.close();
    check(cv.isReleased(), "close ends views");
    threw = false;
    try {
      cv.data();
    } catch (IllegalStateException e) {
      threw = true;
    }
    check(threw, "a client's data() after close");
    fails(Status.ECLOSED, () -> cli.recvView(0));
    fails(Status.ECLOSED, () -> cli.loan(1, 0));
    fails(Status.ECLOSED, () -> srv.recvView(0));
    long sum = 0;
    for (int i = 0; i < kept.capacity(); i++) sum += kept.get(i); // no crash: pinned
    for (int i = 0; i < slice.capacity(); i++) sum += slice.get(i);
    System.gc(); // the buffers are still reachable here: nothing may go
    for (int i = 0; i < ckept.capacity(); i++) sum += ckept.get(i); // the client's mapping
    check(sum != 0, "read nothing");
    Reference.reachabilityFence(kept);
    Reference.reachabilityFence(slice);
    Reference.reachabilityFence(ckept);
  }

  /** A client's loan's buffer, touched after close, is still mapped: no crash. */
  static void loanBufferOutlivesItsClient(String name) throws Exception {
    Server srv = new Server(name);
    Client cli = new Client(name, WAIT);
    Loan loan = cli.loan(1000, WAIT);
    ByteBuffer kept = loan.buffer();
    cli.close(); // the loan ends unsent, the memory stays
    srv.close();
    check(loan.isDone(), "close ends loans");
    boolean threw = false;
    try {
      loan.buffer();
    } catch (IllegalStateException e) {
      threw = true;
    }
    check(threw, "buffer() after close");
    System.gc();
    kept.put(0, (byte) 1); // written nowhere, and no crash
    Reference.reachabilityFence(kept);
  }

  /** A server's loan's buffer (and a slice of it), kept past the commit, the client's close
   * and the server's close, still reads what was sent: the server pinned it. */
  static void serverLoanBufferOutlivesEverything(String name) throws Exception {
    byte[] data = payload(100000, 5);
    Server srv = new Server(name);
    Client cli = new Client(name, WAIT);
    Loan loan = srv.loan(cli.id(), data.length, WAIT);
    ByteBuffer kept = loan.buffer();
    ByteBuffer slice = kept.slice(1000, 100);
    kept.put(0, data);
    loan.commit(data.length);
    check(Arrays.equals(cli.recv(WAIT), data), "what the loan sent");
    cli.close();
    clientsGone(srv, "the client never left"); // its connection is gone from the server
    srv.close();
    System.gc(); // the buffers are still reachable here: nothing may go
    byte[] got = new byte[data.length];
    kept.get(0, got); // no crash: pinned
    check(Arrays.equals(got, data), "the kept loan's bytes");
    check(slice.get(99) == data[1099], "the kept slice");
    Reference.reachabilityFence(kept);
    Reference.reachabilityFence(slice);
  }

  /** The segments of smipc's shared memory this process maps: the inode of each memfd
   * (one entry however many times it is mapped; a new segment never has an old one's). */
  static java.util.Set<String> smipcSegments() throws Exception {
    java.util.Set<String> inodes = new java.util.HashSet<>();
    for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/maps")))
      if (l.contains("memfd:smipc")) inodes.add(l.trim().split("\\s+")[4]);
    return inodes;
  }

  /** The segments mapped now that were not in before, garbage collected first (what is
   * still mapped then is kept by something reachable). */
  static java.util.Set<String> mappedSince(java.util.Set<String> before) throws Exception {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(20);
    }
    java.util.Set<String> now = smipcSegments();
    now.removeAll(before);
    return now;
  }

  /** Collects garbage until none of these segments is mapped (exactly those: whatever
   * other tests left to clean up may come and go meanwhile), or fails after WAIT. */
  static void goes(java.util.Set<String> segments, String what) throws Exception {
    long deadline = System.nanoTime() + WAIT * 1_000_000L;
    for (;;) {
      java.util.Set<String> left = smipcSegments();
      left.retainAll(segments);
      if (left.isEmpty()) return;
      check(System.nanoTime() < deadline, what + ": " + left.size() + " of " + segments.size()
          + " segments still mapped");
      System.gc();
      Thread.sleep(20);
    }
  }

  /** A slice of a client's view, the client and its server closed (in a frame of its own:
   * the interpreter may keep a dead local's object reachable until its method returns). */
  static void keepASlice(String name, ByteBuffer[] kept) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      srv.send(cli.id(), payload(3000, 1), WAIT);
      try (View v = cli.recvView(WAIT)) {
        kept[0] = v.data().slice(1000, 1000); // a slice keeps it as well
      }
    }
  }

  /** A closed client's memory stays while a view's buffer reaches it, and goes after. */
  static void closedClientsMemoryGoesWithItsBuffers(String name) throws Exception {
    java.util.Set<String> before = smipcSegments();
    ByteBuffer[] kept = new ByteBuffer[1];
    keepASlice(name, kept);
    java.util.Set<String> mapped = mappedSince(before);
    check(!mapped.isEmpty(), "the memory went while a buffer reached it");
    check(kept[0].get(999) == payload(3000, 1)[1999], "the kept slice");
    kept[0] = null;
    goes(mapped, "the closed client's memory stayed");
  }

  /** A view in a server's memory, its client gone (in a frame of its own, as above). */
  static void keepAServerView(Server srv, String name, ByteBuffer[] kept) throws Exception {
    try (Client cli = new Client(name, WAIT)) {
      cli.send(payload(3000, 2), WAIT);
      try (View v = srv.recvView(WAIT)) {
        kept[0] = v.data();
      }
    }
  }

  /** What a server's view showed stays mapped (pinned) after its client left, while a
   * buffer reaches it, and goes after. */
  static void serversPinnedMemoryGoesWithItsBuffers(String name) throws Exception {
    java.util.Set<String> before = smipcSegments();
    try (Server srv = new Server(name)) {
      ByteBuffer[] kept = new ByteBuffer[1];
      keepAServerView(srv, name, kept);
      clientsGone(srv, "the client never left");
      java.util.Set<String> mapped = mappedSince(before);
      check(!mapped.isEmpty(), "the pinned memory went while a buffer reached it");
      check(kept[0].get(2999) == payload(3000, 2)[2999], "the kept buffer");
      kept[0] = null;
      goes(mapped, "the pinned memory stayed");
    }
  }

  /** A server's loan to a client that has left, committed (in a frame of its own, as above):
   * a slice of its buffer is kept. */
  static void keepAServerLoan(Server srv, String name, ByteBuffer[] kept) throws Exception {
    byte[] data = payload(3000, 3);
    try (Client cli = new Client(name, WAIT)) {
      try (Loan loan = srv.loan(cli.id(), data.length, WAIT)) {
        loan.buffer().put(0, data);
        kept[0] = loan.buffer().slice(1000, 2000); // a slice keeps it as well
        loan.commit(data.length);
      }
      check(Arrays.equals(cli.recv(WAIT), data), "what the loan sent");
    }
  }

  /** What a server's loan lent stays mapped (pinned) after its commit and its client left,
   * while a buffer reaches it, and goes after. */
  static void serversPinnedLoanGoesWithItsBuffers(String name) throws Exception {
    java.util.Set<String> before = smipcSegments();
    try (Server srv = new Server(name)) {
      ByteBuffer[] kept = new ByteBuffer[1];
      keepAServerLoan(srv, name, kept);
      clientsGone(srv, "the client never left");
      java.util.Set<String> mapped = mappedSince(before);
      check(!mapped.isEmpty(), "the pinned loan's memory went while a buffer reached it");
      check(kept[0].get(1999) == payload(3000, 3)[2999], "the kept buffer");
      kept[0] = null;
      goes(mapped, "the pinned loan's memory stayed");
    }
  }

  /** Waits for srv to see its clients go (their connections gone from it); what: the
   * failure if they never do. */
  static void clientsGone(Server srv, String what) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT * 1_000_000L;
    while (srv.clients().length > 0) {
      check(System.nanoTime() < deadline, what);
      Thread.sleep(5);
    }
  }

  /** How many descriptors this process has open. */
  static long openFds() throws Exception {
    try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
      return fds.count();
    }
  }

  /** One round of churn: a client connects, sends by a loan that the server views, and
   * closes; the loan's and the view's buffers are kept. */
  static void churnOnce(Server srv, String name, int i, List<ByteBuffer> kept) {
    byte[] data = payload(1000, i);
    try (Client cli = new Client(name, WAIT)) {
      Loan loan = cli.loan(data.length, WAIT);
      kept.add(loan.buffer());
      loan.buffer().put(0, data);
      loan.commit(data.length);
      try (View v = srv.recvView(WAIT)) {
        check(!v.copied() && Arrays.equals(bytesOf(v), data), "round " + i + ": the view");
        kept.add(v.data());
      }
    }
  }

  /** Once the server has seen the clients go, the descriptors are back to at most base +
   * slack (the server closes a departed client's a moment after it noticed). */
  static void fdsBackTo(Server srv, long base, int round) throws Exception {
    final long slack = 10; // a client alone holds about 7: 200 kept would be 1400
    clientsGone(srv, "round " + round + ": the clients never left");
    long deadline = System.nanoTime() + 2_000_000_000L;
    long n;
    while ((n = openFds()) > base + slack) {
      check(System.nanoTime() < deadline, "round " + round + ": " + n + " descriptors open, "
          + base + " before the churn: closed clients kept theirs while buffers were reachable");
      Thread.sleep(10);
    }
  }

  /** 200 clients connect, loan, commit, the server views and releases, and the client
   * closes, every buffer kept and no garbage collected on purpose: the descriptors stay as
   * they were (close() closes a client's at once; pins keep only the memory), and the
   * memory goes once the buffers are garbage. */
  static void closedClientsKeepNoDescriptors(String name) throws Exception {
    final int rounds = 200;
    java.util.Set<String> before = smipcSegments();
    List<ByteBuffer> kept = new ArrayList<>();
    try (Server srv = new Server(name)) {
      churnOnce(srv, name, 0, kept); // whatever the JVM opens on the first round, open now
      long base = -1;
      for (int i = 1; i < rounds; i++) {
        if (i == 1) {
          fdsBackTo(srv, Long.MAX_VALUE / 2, 0);
          base = openFds();
        }
        churnOnce(srv, name, i, kept);
        if (i % 50 == 0) fdsBackTo(srv, base, i);
      }
      fdsBackTo(srv, base, rounds);
    }
    for (int i = 0; i < kept.size(); i++) // no crash: pinned, clients and server closed
      check(kept.get(i).get(999) == payload(1000, i / 2)[999], "kept buffer " + i);
    java.util.Set<String> mapped = mappedSince(before);
    check(mapped.size() >= rounds, mapped.size() + " segments mapped, " + rounds + " kept");
    kept.clear();
    goes(mapped, "the churned clients' memory stayed");
  }

  /** A view and a loan nobody ended (dropped in a frame of their own). */
  static void loseAViewAndALoan(Server srv, Client cli) {
    srv.recvView(WAIT);
    cli.loan(100, WAIT).buffer().put(0, (byte) 1);
  }

  /** A lost view is released and a lost loan given back unsent once they are garbage. */
  static void lostViewsAndLoansEnd(String name) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      cli.send("one".getBytes(), WAIT);
      cli.send("two".getBytes(), WAIT);
      loseAViewAndALoan(srv, cli);
      long deadline = System.nanoTime() + WAIT * 1_000_000L;
      Message m = null;
      while (m == null) { // waits for the lost view's release
        System.gc();
        try {
          m = srv.recv(20);
        } catch (SmipcException e) {
          check(e.status() == Status.ETIMEDOUT && System.nanoTime() < deadline, "recv: " + e);
        }
      }
      check(new String(m.data()).equals("two"), "after the lost view: " + new String(m.data()));
      for (boolean sent = false; !sent; ) { // waits for the lost loan's cancel
        System.gc();
        try {
          cli.send("three".getBytes(), 20);
          sent = true;
        } catch (SmipcException e) {
          check(e.status() == Status.ETIMEDOUT && System.nanoTime() < deadline, "send: " + e);
        }
      }
      check(new String(srv.recv(WAIT).data()).equals("three"), "after the lost loan");
      fails(Status.ETIMEDOUT, () -> srv.recv(0)); // the lost loan sent nothing
    }
  }

  /** close() with a view out while another thread waits to receive: both end. */
  static void closeWithAViewOut(String name) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      cli.send("one".getBytes(), WAIT);
      cli.send("two".getBytes(), WAIT);
      View v = srv.recvView(WAIT);
      LinkedBlockingQueue<Object> end = inThread(() -> srv.recv(-1)); // waits for the release
      srv.close();
      Object e = end.poll(WAIT, TimeUnit.MILLISECONDS);
      check(e instanceof SmipcException && ((SmipcException) e).status() == Status.ECLOSED,
          "the waiting receive ended with " + e);
      check(v.isReleased(), "the view after close");
    }
  }

  /** The client's recvMessageInto says broadcast or reply. */
  static void recvMessageIntoSaysBroadcast(String name) throws Exception {
    try (Server srv = new Server(name); Client cli = new Client(name, WAIT)) {
      srv.send(cli.id(), "reply".getBytes(), WAIT);
      srv.broadcast("all".getBytes(), WAIT);
      ByteBuffer buf = ByteBuffer.allocateDirect(100);
      ReceivedInto r = cli.recvMessageInto(buf, WAIT);
      check(r.length() == 5 && !r.broadcast() && buf.position() == 5, "the reply " + r);
      r = cli.recvMessageInto(buf, WAIT);
      check(r.length() == 3 && r.broadcast() && buf.position() == 8, "the broadcast " + r);
      byte[] got = new byte[8];
      buf.get(0, got);
      check(new String(got).equals("replyall"), "what came: " + new String(got));
      srv.send(cli.id(), new byte[200], WAIT);
      SmipcException e = fails(Status.ETOOSMALL, () -> cli.recvMessageInto(ByteBuffer.allocateDirect(10), WAIT));
      check(e.needed() == 200, "needed " + e.needed());
    }
  }

  /** The peer in another process: an echo server that answers each view with a loan. */
  static void zeroCopyEchoServer(String name, int count) {
    try (Server srv = new Server(name)) {
      System.out.println("serving");
      System.out.flush();
      for (int i = 0; i < count; i++) {
        try (View v = srv.recvView(WAIT); Loan loan = srv.loan(v.client(), v.length(), WAIT)) {
          loan.buffer().put(0, v.data(), 0, v.length());
          loan.commit();
        }
      }
    }
  }

  /** Loans and views across processes: this one's client, a zero-copy echo server in a
   * child JVM (this class's main with "echo-server"). */
  static void zeroCopyAcrossProcesses(String name) throws Exception {
    int[] sizes = {0, 1, 4096, 70000, 1 << 20};
    String java = ProcessHandle.current().info().command().orElse("java");
    Process p = new ProcessBuilder(java, "-Djava.library.path=" + System.getProperty("java.library.path"),
        "-cp", System.getProperty("java.class.path"), "SmipcTest", "echo-server", name,
        Integer.toString(sizes.length)).redirectErrorStream(true).start();
    try (var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
      String said = out.readLine();
      check("serving".equals(said), "the child said " + said);
      try (Client cli = Client.connectWait(name, WAIT)) {
        for (int i = 0; i < sizes.length; i++) {
          byte[] data = payload(sizes[i], i + 20);
          try (Loan loan = cli.loan(sizes[i], WAIT)) {
            sendByLoan(loan, data);
          }
          try (View v = cli.recvView(WAIT)) {
            check(!v.broadcast() && Arrays.equals(bytesOf(v), data), sizes[i] + " bytes echoed different");
          }
        }
      }
      check(p.waitFor(WAIT, TimeUnit.MILLISECONDS) && p.exitValue() == 0, "the child's exit");
    } finally {
      p.destroyForcibly();
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 3 && args[0].equals("echo-server")) { // zeroCopyAcrossProcesses' peer
      zeroCopyEchoServer(args[1], Integer.parseInt(args[2]));
      return;
    }
    int failed = 0;
    String[] names = {"echoEverySize", "clientsAndBroadcast", "noServer", "timeout",
        "nameAlreadyServed", "messageTooLarge", "bufferTooSmallKeepsTheMessage", "useAfterClose",
        "closeWhileBlocked", "config", "connectWaitForTheServer", "connectWaitTimesOut",
        "joinsAndDepartures", "broadcastOrReply", "cancelSends", "errorsSayWhere",
        "loansArriveIntact", "viewsShowTheMessage", "loanTooLarge", "cancelSendsNothing",
        "buffersOutliveTheirViews", "loanBufferOutlivesItsClient",
        "closedClientsMemoryGoesWithItsBuffers",
        "serversPinnedMemoryGoesWithItsBuffers", "serverLoanBufferOutlivesEverything",
        "serversPinnedLoanGoesWithItsBuffers", "closedClientsKeepNoDescriptors",
        "lostViewsAndLoansEnd", "closeWithAViewOut",
        "recvMessageIntoSaysBroadcast",
        "zeroCopyAcrossProcesses"};
    for (String n : names) {
      try {
        SmipcTest.class.getDeclaredMethod(n, String.class).invoke(null, BASE + n);
        System.out.println("ok   " + n);
      } catch (java.lang.reflect.InvocationTargetException e) {
        failed++;
        System.out.println("FAIL " + n + ": " + e.getCause());
        e.getCause().printStackTrace(System.out);
      }
    }
    System.out.println(failed == 0 ? "all passed" : failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
