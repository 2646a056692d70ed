package queuetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/queue"
)

const memClaimAfter = 200 * time.Millisecond

func memFactory(mutant string) Factory {
	return Factory{
		Open: func(t *testing.T) queue.Queue {
			q := newMemStore(mutant).open(memClaimAfter)
			t.Cleanup(func() { q.Close() })
			return q
		},
		Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
			nq := q.(*memQueue).reopen()
			t.Cleanup(func() { nq.Close() })
			return nq
		},
		ClaimAfter: memClaimAfter,
	}
}

// mutantEnv names the broken reference queue TestMutantTarget runs.
const mutantEnv = "S3GATE_QUEUETEST_MUTANT"

// TestMutantTarget runs the suite against the in-memory reference queue:
// intact, or, in TestMutants' child processes, broken as mutantEnv names.
func TestMutantTarget(t *testing.T) {
	Run(t, memFactory(os.Getenv(mutantEnv)))
}

// TestMutants checks that the suite fails queues that break the contract.
func TestMutants(t *testing.T) {
	for _, c := range []struct {
		mutant, subtest string
		fails           bool
	}{
		{"eager-trim", "TrimKeepsUnacknowledged", true}, // trims delivered, unacknowledged entries
		{"early-claim", "Redelivery", true},             // redelivers before the claim timeout
		{"early-claim", "ConsumersShareEntries", true},  // hands one entry to two consumers at once
		{"flat-deliveries", "Redelivery", true},         // never counts redeliveries
		{"no-wake", "ReadWakesOnPublish", true},         // sleeps through a waiting Read
		{"forgetful-reopen", "Durability", true},        // loses unacknowledged deliveries on reopen
		{"recount-reopen", "Durability", true},          // restarts delivery counts on reopen
		// Controls: each mutant keeps these properties, so they pass.
		{"eager-trim", "TrimKeepsUnreadWork", false},
		{"eager-trim", "Pending", false},
		{"early-claim", "DeadLetters", false},
		{"early-claim", "BinaryBodies", false},
		{"flat-deliveries", "AckUnknownAndDuplicate", false},
		{"flat-deliveries", "EnsureGroupIdempotent", false},
		{"no-wake", "ReadWaitsThenReturnsEmpty", false},
		{"no-wake", "ContextCancel", false},
		{"no-wake", "CloseUnblocksRead", false},
		{"forgetful-reopen", "Replay", false},
		{"forgetful-reopen", "GroupsSeeEveryEntry", false},
	} {
		t.Run(c.mutant+"/"+c.subtest, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantTarget$/^"+c.subtest+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+c.mutant)
			out, err := cmd.CombinedOutput()
			ran := strings.Contains(string(out), "=== RUN   TestMutantTarget/"+c.subtest)
			failed := strings.Contains(string(out), "--- FAIL: TestMutantTarget/"+c.subtest)
			switch {
			case !ran:
				t.Fatalf("subtest did not run: %v\n%s", err, out)
			case c.fails && (!failed || err == nil):
				t.Fatalf("suite passed a queue that breaks it: %v\n%s", err, out)
			case !c.fails && (failed || err != nil):
				t.Fatalf("suite failed a property the mutant keeps: %v\n%s", err, out)
			}
		})
	}
}
