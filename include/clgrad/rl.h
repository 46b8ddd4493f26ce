/** \file
 * Reinforcement learning: the classic cart-pole problem (Barto, Sutton and
 * Anderson, 1983) with the constants of Gym's CartPole-v1, as n environments
 * stepped together on the host.
 *
 *     clg_cartpole *env = clg_cartpole_new(16, 42);        // 16 environments, seed 42
 *     float obs[16 * 4], final[16 * 4], reward[16];
 *     uint8_t term[16], trunc[16];
 *     clg_cartpole_reset(env, obs);
 *     for (int t = 0; t < 1000; t++) {
 *         int32_t act[16];
 *         for (int i = 0; i < 16; i++) act[i] = obs[i * 4 + 2] > 0;   // push towards the lean
 *         clg_cartpole_step(env, act, obs, reward, term, trunc, final);
 *         // an environment whose episode ended has already started the next one:
 *         // obs holds its new first observation, final its last one
 *     }
 *     clg_cartpole_free(env);
 *
 * Dynamics: gravity 9.8 m/s^2, cart 1.0 kg, pole 0.1 kg, pole half-length
 * 0.5 m, force +-10 N (action 1 pushes right, 0 left), explicit Euler steps of
 * 0.02 s in double precision (Gym's "euler" integrator, the same order of
 * updates). Observation: cart position, cart velocity, pole angle (radians,
 * 0 upright), pole angular velocity. Reward 1 for every step, the failing one
 * included. An episode terminates (fails) when the angle leaves +-12 degrees
 * or the position +-2.4 m, and is truncated (does not fail: a bootstrapped
 * target still uses the value of its last state) after 500 steps. Start states
 * are uniform in +-0.05 in each of the four variables.
 *
 * Randomness: environment i draws its start states from its own stream,
 * seeded by (seed, i), so a run is reproducible whatever the number of steps
 * between resets. An environment is used by one thread at a time. */
#ifndef CLGRAD_RL_H
#define CLGRAD_RL_H

#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/status.h"

CLG_BEGIN_DECLS

/** \defgroup rl_cartpole CartPole
 * @{ */

typedef struct clg_cartpole clg_cartpole;

/** Gym's CartPole-v1 limits: steps before truncation, and the failure limits. */
#define CLG_CARTPOLE_MAX_STEPS 500
#define CLG_CARTPOLE_X_LIMIT 2.4
#define CLG_CARTPOLE_THETA_LIMIT (12.0 * 2.0 * 3.14159265358979323846 / 360.0)

/** n environments (1 to 2^20), seeded with seed (see clg_cartpole_seed); the
 * caller frees them with clg_cartpole_free. Call clg_cartpole_reset before the
 * first step. NULL with INVALID_ARGUMENT for a bad n, or OUT_OF_HOST_MEMORY. */
CLG_API clg_cartpole *clg_cartpole_new(int n, uint64_t seed);
CLG_API void clg_cartpole_free(clg_cartpole *env); /**< NULL is a no-op */
/** The number of environments; 0 for NULL. */
CLG_API int clg_cartpole_count(const clg_cartpole *env);
/** Restarts every environment's random stream from seed (environment i from
 * (seed, i)); the next reset draws the same start states as a new set. */
CLG_API clg_status clg_cartpole_seed(clg_cartpole *env, uint64_t seed);
/** Starts a new episode in every environment; writes the observations to obs
 * [n, 4] (may be NULL). */
CLG_API clg_status clg_cartpole_reset(clg_cartpole *env, float *obs);
/** One step of every environment with actions [n] (0 or 1). Writes the
 * observations [n, 4], rewards [n], terminated and truncated flags [n] (1
 * where the episode ended this step). An environment whose episode ended
 * starts its next one at once (Gym's auto-reset): obs then holds the new
 * episode's first observation and final_obs [n, 4] (may be NULL) the ended
 * episode's last one (elsewhere final_obs equals obs). Fails with
 * INVALID_ARGUMENT, changing nothing, on NULL arguments (final_obs excepted),
 * an action other than 0 or 1 (naming the environment and the value), or
 * before the first reset. */
CLG_API clg_status clg_cartpole_step(clg_cartpole *env, const int32_t *actions, float *obs, float *rewards,
                                     uint8_t *terminated, uint8_t *truncated, float *final_obs);
/** Environment i's state (x, x_dot, theta, theta_dot) in double precision and
 * its step count in this episode: for rendering, tests and custom starts. */
CLG_API clg_status clg_cartpole_get_state(const clg_cartpole *env, int i, double state[4], int *steps);
/** Sets environment i's state and step count (0 to 499); finite values only. */
CLG_API clg_status clg_cartpole_set_state(clg_cartpole *env, int i, const double state[4], int steps);
/** @} */

CLG_END_DECLS

#endif
