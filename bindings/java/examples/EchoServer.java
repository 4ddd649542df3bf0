import org.smipc.*;

public class EchoServer {
  public static void main(String[] args) {
    try (Server srv = new Server("readme-java")) {        // new Server(name, ServerConfig)
      System.out.println("serving");
      Message m = srv.recv(-1);                           // -1: wait for ever
      srv.send(m.client(), new String(m.data()).toUpperCase().getBytes(), 1000);
    }
  }
}
