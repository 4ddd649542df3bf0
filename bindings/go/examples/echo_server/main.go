package main

import (
	"bytes"
	"fmt"
	"log"
	"time"

	"smipc.org/smipc"
)

func main() {
	srv, err := smipc.Listen("readme-go", nil) // or &smipc.Config{MaxClients: 8, ...}
	if err != nil {
		log.Fatal(err) // errors.Is(err, smipc.ErrExists): someone serves it already
	}
	defer srv.Close()
	fmt.Println("serving")
	msg, err := srv.Recv(-1) // negative: wait for ever
	if err != nil {
		log.Fatal(err)
	}
	srv.Send(msg.Client, bytes.ToUpper(msg.Data), time.Second)
}
