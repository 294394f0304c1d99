module nsmkit.test/govsock

go 1.19
