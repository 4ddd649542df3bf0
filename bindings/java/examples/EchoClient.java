import org.smipc.*;

public class EchoClient {
  public static void main(String[] args) {
    try (Client cli = new Client("readme-java", 1000)) { // SmipcException status -6: no server
      cli.send("hello".getBytes(), 1000);
      System.out.println("client got " + new String(cli.recv(1000)));   // HELLO
    }
  }
}
