import java.util.Arrays;
import org.smipc.*;

/**
 * One side of the interop matrix (tests/python/test_matrix.py), the same program in C,
 * Python, Java and Go:
 *
 * <pre>
 *   MatrixPeer server NAME        echoes every message; "!barrier N SIZE" from N clients
 *                                 makes it broadcast SIZE bytes to all of them
 *   MatrixPeer client NAME SEED   echoes 0 B to 3 MiB through the server, waits at the
 *                                 barrier, checks the broadcast, then blocks until the
 *                                 server is gone
 * </pre>
 *
 * Each step prints one line (ready / connected ID / echo ok / broadcast ok / waiting /
 * closed); anything unexpected goes to stderr with exit status 1.
 */
public class MatrixPeer {
  static final int WAIT = 30000; // ms
  static final int[] SIZES = {0, 1, 4095, 4096, 4097, 65536, 1 << 20, 3 << 20};
  static final int CLIENTS = 3;
  static final int BROADCAST_SIZE = 10000;

  /** Byte i of a payload is (seed*31 + (i mod 251)*7) mod 256, in every language. */
  static byte[] payload(int size, int seed) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) b[i] = (byte) (seed * 31 + (i % 251) * 7);
    return b;
  }

  static void serve(String name) {
    try (Server srv = new Server(name)) {
      System.out.println("ready");
      int arrived = 0;
      for (; ; ) {
        Message m = srv.recv(-1);
        String text = new String(m.data(), java.nio.charset.StandardCharsets.ISO_8859_1);
        if (text.startsWith("!barrier ")) {
          String[] f = text.split(" ");
          if (++arrived == Integer.parseInt(f[1])) {
            long n = srv.broadcast(payload(Integer.parseInt(f[2]), 7), WAIT);
            if (n != arrived) throw new IllegalStateException("broadcast reached " + n + " of " + arrived);
            arrived = 0;
          }
        } else {
          srv.send(m.client(), m.data(), WAIT);
        }
      }
    }
  }

  static void client(String name, int seed) {
    try (Client cli = new Client(name, WAIT)) {
      System.out.println("connected " + cli.id());
      for (int i = 0; i < SIZES.length; i++) {
        byte[] data = payload(SIZES[i], seed + i);
        cli.send(data, WAIT);
        if (!Arrays.equals(cli.recv(WAIT), data))
          throw new IllegalStateException("echo of " + SIZES[i] + " bytes came back different");
      }
      System.out.println("echo ok");
      cli.send(("!barrier " + CLIENTS + " " + BROADCAST_SIZE).getBytes(), WAIT);
      if (!Arrays.equals(cli.recv(WAIT), payload(BROADCAST_SIZE, 7)))
        throw new IllegalStateException("the broadcast came damaged");
      System.out.println("broadcast ok");
      System.out.println("waiting");
      try {
        cli.recv(-1);
        throw new IllegalStateException("a message after the broadcast");
      } catch (SmipcException e) {
        if (e.status() != Status.ECLOSED) throw e;
        System.out.println("closed");
      }
    }
  }

  public static void main(String[] args) {
    try {
      if (args.length == 2 && args[0].equals("server")) serve(args[1]);
      else if (args.length == 3 && args[0].equals("client")) client(args[1], Integer.parseInt(args[2]));
      else {
        System.err.println("usage: MatrixPeer server NAME | client NAME SEED");
        System.exit(2);
      }
    } catch (RuntimeException e) {
      System.err.println("MatrixPeer: " + e.getMessage());
      System.exit(1);
    }
  }
}
