// Package bench holds textback's throughput, memory and latency benchmarks,
// side by side with other AMI and ESL clients on the same streams. It has no
// code of its own outside its tests; see README.md for how to run them.
package bench
