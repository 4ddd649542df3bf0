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

  public static void main(String[] args) throws Exception {
    int failed = 0;
    String[] names = {"echoEverySize", "clientsAndBroadcast", "noServer", "timeout",
        "nameAlreadyServed", "messageTooLarge", "bufferTooSmallKeepsTheMessage", "useAfterClose",
        "closeWhileBlocked", "config", "connectWaitForTheServer", "connectWaitTimesOut",
        "joinsAndDepartures", "broadcastOrReply", "cancelSends", "errorsSayWhere"};
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
