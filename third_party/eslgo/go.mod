module github.com/percipia/eslgo

go 1.21
