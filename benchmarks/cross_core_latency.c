/* Cache-line round trips between two CPUs, sampled: see benchmarks/core_latency.py, which builds and runs it.

   usage: cross_core_latency SECONDS PERIOD_MS ROUND_TRIPS CPU_A CPU_B
   Every PERIOD_MS one thread pinned to CPU_A and one pinned to CPU_B pass a counter back and forth
   ROUND_TRIPS times; the line printed is "<unix time> <ns per round trip>". Between samples both threads
   sleep, so the probe costs little beside a benchmark (0.1-0.7 ms of each CPU per sample). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Atomic long counter = 0;
static _Atomic int ready = 0;
static int round_trips, samples, cpu_b;
static long period_ns;
static struct timespec start;

static int pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void sleep_until_sample(int k) {  /* absolute times, so both threads wake for the same sample */
    struct timespec t = start;
    long ns = t.tv_nsec + (long)k * period_ns;
    t.tv_sec += ns / 1000000000L;
    t.tv_nsec = ns % 1000000000L;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
}

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *echo(void *unused) {
    (void)unused;
    if (pin(cpu_b)) { fprintf(stderr, "cannot pin a thread to CPU %d\n", cpu_b); exit(2); }
    long i = 0;
    for (int k = 1; k <= samples; k++) {
        sleep_until_sample(k);
        atomic_store(&ready, k);
        for (int r = 0; r < round_trips; r++, i++) {
            while (atomic_load(&counter) != 2 * i + 1) {}
            atomic_store(&counter, 2 * i + 2);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s SECONDS PERIOD_MS ROUND_TRIPS CPU_A CPU_B\n", argv[0]);
        return 2;
    }
    double secs = atof(argv[1]), period_ms = atof(argv[2]);
    round_trips = atoi(argv[3]);
    int cpu_a = atoi(argv[4]);
    cpu_b = atoi(argv[5]);
    if (secs <= 0 || period_ms <= 0 || round_trips < 1 || cpu_a == cpu_b) {
        fprintf(stderr, "need SECONDS > 0, PERIOD_MS > 0, ROUND_TRIPS >= 1 and two different CPUs\n");
        return 2;
    }
    period_ns = (long)(period_ms * 1e6);
    samples = (int)(secs * 1e3 / period_ms);
    if (pin(cpu_a)) { fprintf(stderr, "cannot pin a thread to CPU %d\n", cpu_a); return 2; }
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_t other;
    pthread_create(&other, NULL, echo, NULL);
    long i = 0;
    for (int k = 1; k <= samples; k++) {
        sleep_until_sample(k);
        while (atomic_load(&ready) != k) {}  /* the other thread is awake: time only the round trips */
        double t0 = seconds(CLOCK_MONOTONIC);
        for (int r = 0; r < round_trips; r++, i++) {
            atomic_store(&counter, 2 * i + 1);
            while (atomic_load(&counter) != 2 * i + 2) {}
        }
        double t1 = seconds(CLOCK_MONOTONIC);
        printf("%.3f %.1f\n", seconds(CLOCK_REALTIME), (t1 - t0) / round_trips * 1e9);
        fflush(stdout);
    }
    pthread_join(other, NULL);
    return 0;
}
