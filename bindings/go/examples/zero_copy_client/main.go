package main

import (
	"fmt"
	"log"
	"time"

	"smipc.org/smipc"
)

func main() {
	cli, err := smipc.Dial("readme-go", time.Second)
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	loan, err := cli.Loan(5, time.Second) // room in shared memory, up to BulkSize
	if err != nil {
		log.Fatal(err) // errors.Is(err, smipc.ErrLoanTooLarge): larger, use Send
	}
	defer loan.Cancel()                    // sends nothing; does nothing once committed
	copy(loan.Bytes(), "hello")            // written in place
	if err := loan.Commit(5); err != nil { // sent, no copy
		log.Fatal(err)
	}
	v, err := cli.RecvView(time.Second) // the reply, read in place
	if err != nil {
		log.Fatal(err)
	}
	defer v.Release()
	fmt.Println("client got", string(v.Data())) // HELLO
}
