//! Diesel table definitions shared by both backends. Kept by hand in step with
//! `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    regions (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        parent_code -> Nullable<Text>,
    }
}

diesel::table! {
    departments (id) {
        id -> Integer,
        name -> Text,
        region_code -> Text,
        kind -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        department_id -> Nullable<Integer>,
        region_code -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        password_changed_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_user_id -> Nullable<Integer>,
        actor_username -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        region_code -> Nullable<Text>,
        department_id -> Nullable<Integer>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        request_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    calendar_days (day) {
        day -> Date,
        kind -> Text,
        name -> Text,
    }
}

diesel::table! {
    national_baselines (region_code, year, list_type) {
        region_code -> Text,
        year -> Integer,
        list_type -> Text,
        count -> Integer,
        provenance -> Text,
        updated_at -> Timestamp,
        updated_by -> Nullable<Integer>,
    }
}

diesel::joinable!(departments -> regions (region_code));
diesel::joinable!(users -> departments (department_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(national_baselines -> regions (region_code));
diesel::joinable!(national_baselines -> users (updated_by));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    departments,
    users,
    sessions,
    refresh_tokens,
    audit_head,
    audit_log,
    calendar_days,
    national_baselines,
);
