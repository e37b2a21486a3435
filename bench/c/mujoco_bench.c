// The C limit for Hopper-v4 throughput: the same hopper.xml (RK4, timestep 0.002), frame_skip 4,
// uniform random actions in [-1, 1], Gymnasium's health check, reset with U(±5e-3) noise on a fall
// or after 1000 steps. It also builds the observation and reward so its work matches the C# env's.
//
//   gcc -O2 -I/usr/include bench/c/mujoco_bench.c -o /tmp/mujoco_bench -l:libmujoco.so.2.2.2 -lm
//   /tmp/mujoco_bench src/O2O.Sim/Assets/hopper.xml 20000
//
// Prints one line: "c_env_steps_per_s=<number> steps=<n> seconds=<s> episodes=<k>".
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <mujoco/mujoco.h>

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static double uniform(double lo, double hi) {  // xorshift64*: fast, good enough for a benchmark
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t x = rng_state * 2685821657736338717ULL;
  return lo + (hi - lo) * (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

static int healthy(const mjModel* m, const mjData* d) {
  for (int i = 2; i < m->nq; i++) if (!(d->qpos[i] > -100 && d->qpos[i] < 100)) return 0;
  for (int i = 0; i < m->nv; i++) if (!(d->qvel[i] > -100 && d->qvel[i] < 100)) return 0;
  return d->qpos[1] > 0.7 && d->qpos[2] > -0.2 && d->qpos[2] < 0.2;
}

static void reset(const mjModel* m, mjData* d) {
  mj_resetData(m, d);
  for (int i = 0; i < m->nq; i++) d->qpos[i] = m->qpos0[i] + uniform(-5e-3, 5e-3);
  for (int i = 0; i < m->nv; i++) d->qvel[i] = uniform(-5e-3, 5e-3);
  mj_forward(m, d);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s hopper.xml env_steps\n", argv[0]); return 2; }
  long steps = atol(argv[2]);
  char err[1000] = "";
  mjModel* m = mj_loadXML(argv[1], NULL, err, sizeof err);
  if (!m) { fprintf(stderr, "mj_loadXML: %s\n", err); return 1; }
  mjData* d = mj_makeData(m);
  const int frame_skip = 4;
  const double dt = m->opt.timestep * frame_skip;
  float obs[64];
  volatile double sink = 0;
  long episodes = 0;
  int t_in_episode = 0;
  reset(m, d);
  double t0 = now();
  for (long t = 0; t < steps; t++) {
    double ctrl_cost = 0;
    for (int i = 0; i < m->nu; i++) { double a = uniform(-1, 1); d->ctrl[i] = a; ctrl_cost += a * a; }
    double x_before = d->qpos[0];
    for (int k = 0; k < frame_skip; k++) mj_step(m, d);
    double reward = 1.0 + (d->qpos[0] - x_before) / dt - 1e-3 * ctrl_cost;
    for (int i = 1; i < m->nq; i++) obs[i - 1] = (float)d->qpos[i];
    for (int i = 0; i < m->nv; i++) obs[m->nq - 1 + i] = (float)fmin(10, fmax(-10, d->qvel[i]));
    sink += reward + obs[0];
    if (!healthy(m, d) || ++t_in_episode >= 1000) { reset(m, d); t_in_episode = 0; episodes++; }
  }
  double secs = now() - t0;
  printf("c_env_steps_per_s=%.1f steps=%ld seconds=%.3f episodes=%ld\n", steps / secs, steps, secs, episodes);
  mj_deleteData(d);
  mj_deleteModel(m);
  return 0;
}
