module nsmkit.test/devnsmgo

go 1.19
