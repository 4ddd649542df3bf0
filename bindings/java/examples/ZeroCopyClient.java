import org.smipc.*;

public class ZeroCopyClient {
  public static void main(String[] args) {
    try (Client cli = new Client("readme-java", 1000)) {
      try (Loan loan = cli.loan(5, 1000)) {       // room in shared memory, up to bulk_size
        loan.buffer().put(0, "hello".getBytes()); // written in place
        loan.commit(5);                           // sent, no copy (close() alone sends nothing)
      }
      try (View v = cli.recvView(1000)) {         // the reply, read in place
        byte[] reply = new byte[v.length()];
        v.data().get(reply);                      // a read-only direct ByteBuffer
        System.out.println("client got " + new String(reply)); // HELLO
      }                                           // released: v.data() throws from here on
    }
  }
}
