// Tasks: C++20 coroutines whose memory comes from a fixed task pool, never from the heap.
// A task is spawned only through TaskPool::spawn, which takes a slot (refusal counted when full);
// the slot holds an arena for the task's coroutine frames (nested frames stack LIFO on it) and
// fixed blocks for the completion handlers of its outstanding Asio operations. Awaiting I/O goes
// through the awaiters, each with a deadline or a cancel hook, so a task can always be cancelled
// at shutdown. Not thread-safe: everything runs on the reactor thread.
// This header gathers the four parts; include it to write or run tasks:
//   handler_arena.hpp  fixed blocks for the completion handlers of one task's Asio operations
//   task_type.hpp      Task<T> and its promise; TaskSlot, the memory one task runs in; Clock, Timer
//   task_pool.hpp      TaskPool<N>: spawn (refusals counted), cancel_all, the task listing
//   awaiters.hpp       async_op, timed_op, sleep_for, Notify, acquire: every wait can be interrupted
#pragma once
#include "platform/core/awaiters.hpp"
#include "platform/core/handler_arena.hpp"
#include "platform/core/task_pool.hpp"
#include "platform/core/task_type.hpp"
