// The todo's schema, as a Standard Schema (zod, valibot and arktype schemas
// are Standard Schemas too): TanStack DB validates every insert and update
// with it, and lockstepCollectionOptions infers the Todo type from it.
import type { StandardSchemaV1 } from '@standard-schema/spec';

export interface Todo {
  id: string;
  title: string;
  done: boolean;
  createdAt: number;
}

type Issue = StandardSchemaV1.Issue;

function validate(value: unknown): StandardSchemaV1.Result<Todo> {
  if (typeof value !== 'object' || value === null) return { issues: [{ message: 'a todo is an object' }] };
  const todo = value as Record<string, unknown>;
  const issues: Issue[] = [];
  if (typeof todo.id !== 'string' || todo.id === '') issues.push({ message: 'id must be a non-empty string', path: ['id'] });
  if (typeof todo.title !== 'string' || todo.title.trim() === '') issues.push({ message: 'title must not be empty', path: ['title'] });
  if (typeof todo.done !== 'boolean') issues.push({ message: 'done must be true or false', path: ['done'] });
  if (typeof todo.createdAt !== 'number') issues.push({ message: 'createdAt must be a number', path: ['createdAt'] });
  if (issues.length > 0) return { issues };
  return { value: { id: todo.id as string, title: (todo.title as string).trim(), done: todo.done as boolean, createdAt: todo.createdAt as number } };
}

export const todoSchema: StandardSchemaV1<Todo, Todo> = {
  '~standard': { version: 1, vendor: 'lockstep-todo-example', validate },
};
