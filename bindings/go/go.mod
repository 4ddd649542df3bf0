module smipc.org/smipc

go 1.19
