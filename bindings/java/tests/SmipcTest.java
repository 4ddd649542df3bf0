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

  public static void main(String[] args) throws Exception {
    int failed = 0;
    String[] names = {"echoEverySize", "clientsAndBroadcast", "noServer", "timeout",
        "nameAlreadyServed", "messageTooLarge", "bufferTooSmallKeepsTheMessage", "useAfterClose",
        "closeWhileBlocked", "config"};
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
